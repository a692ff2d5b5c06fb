# Autoencoder defences against Carlini-Wagner attacks (Hlihor, Volpi, Malago 2020), rebuilt.
# README.md says how to run it; config.yaml holds every setting.

import os

from snakemake.utils import min_version

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/attack.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/health.smk"


refuse_unknown_targets()  # a typo in a target is named with the closest ones


# The report opens with what was run and the verdicts of results/tables/claims.csv.
report: "workflow/report/workflow.rst"


RUN_OPTIONS = (
    workflow.overwrite_configfiles,
    dict(workflow.config_settings.config),
)  # --configfile, --config
# Snakemake renders the report's texts with the config alone (in params, a figure would rerun
# whenever the health table changed), so when, and only when, it builds the report, the texts
# read from the results join the config: the landing page, the run's sentence under every
# caption, each figure's health sentence. No job of a run sees a config a result changed.
if building_report():
    config["report_landing"] = report_landing(config, *RUN_OPTIONS)
    config["report_run"] = run_sentence(config, *RUN_OPTIONS)
    config["health_summaries"] = health_summaries()


onstart:
    stop_jobs_on_signals()  # SIGTERM / SIGINT stop the running jobs too (jobs/watchdog.py)
    record_run(  # logs/run_settings.json: make report and make status use these options
        *RUN_OPTIONS,
        workflow.main_snakefile,
        workflow.dag_settings.targets,
        [t.item_to_choice() for t in workflow.dag_settings.rerun_triggers],
    )


onsuccess:
    print_run_summary(RUN_STARTED)  # the figures, tables and accuracy grids it built


rule all:
    input:
        expand("results/figures/{name}.pdf", name=grid.FIGURES),
        expand("results/figures/{name}.pdf", name=default_comparisons()),
        "results/tables/accuracy.csv",
        "results/tables/claims.csv",
