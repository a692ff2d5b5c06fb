# Shared by every rule: the library on the path, the validated config, wildcard constraints,
# and the small functions that expand each rule's inputs from the plan (aedefense/plan/grid.py)
# and hand it its slice of config (aedefense/plan/params.py).

import os
import sys
import time
from pathlib import Path

RUN_STARTED = time.time()  # what the run writes from now on is summed up at its end

# The library lives beside the job scripts, so jobs import it in any environment (conda,
# container, cluster node) with no install step; the jobs get it first on their path, before
# any installed copy (aedefense/environment.py). The Snakefile itself needs it too.
NUMBER_REGEX = r"[0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?"
LIBRARY = str(Path(workflow.basedir) / "workflow" / "scripts")
if LIBRARY not in sys.path:
    sys.path.insert(0, LIBRARY)

from aedefense.environment import library_first_for_jobs

library_first_for_jobs(LIBRARY)

from aedefense.plan.cells import (
    CELL_REGEX,
    REPLICATE_REGEX,
    format_number,
    replicate_name,
    split_replicate,
)
from aedefense.plan.config import (
    ConfigError,
    as_plain,
    configfile_groups,
    configfile_problems,
    repeated_configfile_option,
    resolve_path,
)
from aedefense.config_check import check_config
from aedefense.files.io import unusable_folders
from aedefense.jobs.watchdog import stop_jobs_on_signals
from aedefense.report.build import record_run
from aedefense.report.summary import (
    config_label,
    print_run_summary,
    report_landing,
    run_sentence,
)
from aedefense.cost.rates import cluster_training_minutes
from aedefense.data.sources import official_files
from aedefense.plan.datasets import DATASETS, dataset_info, file_format
from aedefense.plan.names import CLEAN, UNDEFENDED, WORST
from aedefense.plan import grid, job_inputs
from aedefense.report import results
from aedefense.plan.params import (
    accuracy_figure_settings,
    attack_settings,
    autoencoder_settings,
    classifier_settings,
    evaluation_settings,
    figure_style,
    health_settings,
    sanity_settings,
    user_defence_entry,
)
import re

configfile_problem = repeated_configfile_option(sys.argv)
if configfile_problem:
    raise WorkflowError(configfile_problem)
configfile_faults = configfile_problems(
    [
        Path(workflow.basedir) / "config.yaml",
        *[f for group in configfile_groups(sys.argv) for f in group],
    ]
)
if configfile_faults:
    raise WorkflowError("\n".join(configfile_faults))
unusable = unusable_folders(".")
if unusable:
    raise WorkflowError(
        f"this user (uid {os.getuid()}) cannot read, write or enter {', '.join(unusable)} in {os.getcwd()}: "
        "give the folders back to this user (chmod u+rwx, or chown), or run in another directory (-d DIR)"
    )

for message in results.edited_tables("results/tables"):
    print(message, file=sys.stderr)

try:
    check_config(
        config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
    )
except ConfigError as error:
    raise WorkflowError(str(error)) from None

# The config as plain dicts and lists, as the plan and the params functions take it.
PLAIN_CONFIG = as_plain(config)
# The config files of this run, named in every figure's footer with its image count.
RUN_LABEL = config_label(workflow.overwrite_configfiles, workflow.basedir)
# Every job's software: one environment for all rules (paths are relative to workflow/rules).
ENVIRONMENT = "../../envs/aedefense.yaml"


wildcard_constraints:
    dataset="|".join(DATASETS),
    defence="(?:"
    + "|".join([CELL_REGEX, UNDEFENDED, *map(re.escape, config["defences"])])
    + f"){REPLICATE_REGEX}",
    classifier=f"classifier{REPLICATE_REGEX}",
    attack="|".join([*config["attacks"], CLEAN, WORST]),
    figure="|".join(
        [*grid.ACCURACY_FIGURES, grid.DEFENCES_FIGURE, *config["comparison_figures"]]
    ),
    eps=NUMBER_REGEX,
    scale=NUMBER_REGEX,
    filename="|".join(
        re.escape(entry.name) for d in DATASETS for entry in official_files(d)
    ),


# Run where Snakemake runs, never as cluster jobs: downloads need the network that compute
# nodes may lack; tables and figures take seconds.
localrules:
    all,
    download,
    accuracy_table,
    figure_table,
    latent_table,
    accuracy_figure,
    latent_figure,
    defences_figure,
    health_table,
    defences_health_table,
    claims,


def raw_files(wildcards):
    """The verified official files of one dataset."""
    return [
        f"resources/{wildcards.dataset}/{entry.name}"
        for entry in official_files(wildcards.dataset)
    ]


# The cells this config trains, computed once: every job's input function checks its cell.
PLANNED_CELLS = grid.planned_cells(PLAIN_CONFIG)


def refuse_outside_config(wildcards, **values):
    """Build nothing the config does not plan: a target such as .../cw_eps5.pt is refused
    with the values the config allows."""
    problems = grid.target_problems(
        PLAIN_CONFIG, wildcards.dataset, cells=PLANNED_CELLS, **values
    )
    if problems:
        raise WorkflowError(outside_config_message(dict(wildcards.items()), problems))


def outside_config_message(requested, problems):
    return (
        f"the requested file ({requested}) lies outside the config: "
        + "; ".join(problems)
        + ". Add the value to the config (config.yaml or a --configfile) to build it."
    )


def classifier_params(wildcards):
    refuse_outside_config(wildcards, name=wildcards.classifier)
    replicate = split_replicate(wildcards.classifier)[1]
    return classifier_settings(PLAIN_CONFIG, wildcards.dataset, replicate)


def autoencoder_params(wildcards):
    refuse_outside_config(wildcards, name=wildcards.defence)
    return autoencoder_settings(PLAIN_CONFIG, wildcards.dataset, wildcards.defence)


def defence_inputs(wildcards, classifier_always=False):
    """The test data, the classifier, and the cell's autoencoder (none for UNDEFENDED), all of
    the cell's training seed; for a user defence its files and contract, and the classifier
    only where it is a purifier (or classifier_always)."""
    refuse_outside_config(
        wildcards,
        name=wildcards.defence,
        attack=wildcards.get("attack"),
        eps=wildcards.get("eps"),
        scale=wildcards.get("scale"),
    )
    base, replicate = split_replicate(wildcards.defence)
    classifier = grid.classifier_name(replicate)
    inputs = {
        "test": f"results/{wildcards.dataset}/data/test.pt",
        "classifier": f"results/{wildcards.dataset}/{classifier}.pt",
    }
    if base in config["defences"]:
        inputs.update(USER_DEFENCE_FILES[base])
        inputs["contract"] = f"results/{wildcards.dataset}/ae/{base}/contract.json"
        if not grid.uses_classifier(config["defences"][base]) and not classifier_always:
            del inputs["classifier"]
        return inputs
    if base != UNDEFENDED:
        # a clear error for a cell trained elsewhere
        grid.trained_cell(wildcards.defence)
        inputs["autoencoder"] = (
            f"results/{wildcards.dataset}/ae/{wildcards.defence}/model.pt"
        )
    return inputs


def model_params(wildcards):
    """The training settings of the models a job reads: the job refuses a checkpoint trained
    with other settings (copied from another run or cell). Only the models it reads: a whole
    model of its own has no classifier, so the classifier's settings do not rerun its jobs.
    """
    base, replicate = split_replicate(wildcards.defence)
    models = {}
    if base not in config["defences"] or grid.uses_classifier(config["defences"][base]):
        models["classifier"] = classifier_settings(
            PLAIN_CONFIG, wildcards.dataset, replicate
        )
    if base != UNDEFENDED and base not in config["defences"]:
        models["autoencoder"] = autoencoder_settings(
            PLAIN_CONFIG, wildcards.dataset, wildcards.defence
        )
    return models


def latent_params(wildcards):
    """The latent analysis reads the autoencoder alone."""
    return {"autoencoder": model_params(wildcards)["autoencoder"]}


def user_defence_files(name):
    """A user defence's files, inputs of all its jobs: a change reruns them."""
    from aedefense.core import defences

    entry, root = config["defences"][name], defences.WORKFLOW_ROOT
    files = {}
    for key, input_name in (
        ("callable", "defence_source"),
        ("bpda", "defence_bpda_source"),
    ):
        if entry.get(key):
            source = defences.source_file(defences.parse_reference(entry[key], root))
            if source is not None:
                files[input_name] = str(source)
    if entry.get("checkpoint"):
        files["defence_checkpoint"] = str(defences.checkpoint_path(entry, root))
    package = [str(f) for f in defences.defence_files(entry, root)]
    if package:  # the rest of its code: its package's files and the declared ones
        files["defence_files"] = [f for f in package if f not in files.values()]
    return files


# Each user defence's files, found once per run (a module reference is looked up on sys.path).
USER_DEFENCE_FILES = {name: user_defence_files(name) for name in config["defences"]}


def contract_inputs(wildcards):
    refuse_outside_config(wildcards, name=wildcards.defence)
    inputs = {"test": f"results/{wildcards.dataset}/data/test.pt"}
    if config["defences"][wildcards.defence].get("classifier"):  # a model that wraps it
        inputs["classifier"] = f"results/{wildcards.dataset}/classifier.pt"
    return {**inputs, **USER_DEFENCE_FILES[wildcards.defence]}


def contract_params(wildcards):
    return user_defence_entry(PLAIN_CONFIG, wildcards.defence)


def set_name(attack, eps, scale):
    """The file name of an adversarial set and of its evaluation: an adaptive attack's sets
    are made per latent scale; the others (and the clean images, and the worst case) serve
    every scale, so their one evaluation covers all of them."""
    if grid.is_adaptive(PLAIN_CONFIG, attack):
        return f"{attack}_eps{eps}_s{scale}"
    return f"{attack}_eps{eps}"


def adversarial_set(dataset, cell, attack, eps, scale):
    return f"results/{dataset}/ae/{cell}/adv/{set_name(attack, eps, scale)}.pt"


def evaluation_file(dataset, cell, attack, eps, scale):
    return f"results/{dataset}/ae/{cell}/eval/{set_name(attack, eps, scale)}.csv"


def evaluate_inputs(wildcards):
    inputs = defence_inputs(wildcards)
    scale = wildcards.get("scale")  # adaptive attacks only
    if wildcards.attack == WORST:
        for attack in config["worst_case_over"]:
            inputs[job_inputs.attack_key(attack)] = adversarial_set(
                wildcards.dataset, wildcards.defence, attack, wildcards.eps, scale
            )
    elif wildcards.attack != CLEAN:
        inputs[job_inputs.ADVERSARIAL] = adversarial_set(
            wildcards.dataset, wildcards.defence, wildcards.attack, wildcards.eps, scale
        )
    return inputs


def latent_inputs(wildcards):
    refuse_outside_config(wildcards, name=wildcards.defence, eps=wildcards.eps)
    return {
        "test": f"results/{wildcards.dataset}/data/test.pt",
        "autoencoder": f"results/{wildcards.dataset}/ae/{wildcards.defence}/model.pt",
        job_inputs.ADVERSARIAL: adversarial_set(
            wildcards.dataset, wildcards.defence, wildcards.attack, wildcards.eps, 0
        ),
    }


def attack_names(adaptive):
    """A wildcard pattern of the adaptive or of the plain attack names."""
    names = [
        a for a in config["attacks"] if grid.is_adaptive(PLAIN_CONFIG, a) == adaptive
    ]
    return "|".join(names) or "(?!)"  # (?!) matches nothing


def attack_params(wildcards):
    return attack_settings(
        PLAIN_CONFIG,
        wildcards.dataset,
        wildcards.attack,
        float(wildcards.eps),
        wildcards.defence,
        float(wildcards.scale) if "scale" in wildcards.keys() else None,
    )


# Per (cell, attack): the latent scales its evaluations cover, computed once per run.
EVALUATION_SCALES = grid.evaluation_scales(PLAIN_CONFIG)


def evaluate_params(wildcards):
    try:
        scales = grid.evaluation_job_scales(
            EVALUATION_SCALES,
            wildcards.defence,
            wildcards.attack,
            wildcards.get("scale"),
        )
    except ValueError as error:
        raise WorkflowError(str(error)) from None
    return evaluation_settings(
        PLAIN_CONFIG, wildcards.dataset, wildcards.defence, scales
    )


def default_comparisons():
    """The comparison figures that a run without a target builds, and the full table holds."""
    if not config["run_comparison_figures"]:
        return []
    return [
        name
        for name, spec in config["comparison_figures"].items()
        if spec.get("in_default_run", True)
    ]


def table_rows(
    figures=grid.ACCURACY_FIGURES, all_reference_cells=True, comparisons=None
):
    """[dataset, cell, attack, eps, scale] of the evaluations a table holds; comparisons None:
    those of the default run."""
    if comparisons is None:
        comparisons = default_comparisons()
    return [
        list(row)
        for row in grid.evaluations(
            PLAIN_CONFIG, figures, all_reference_cells, comparisons
        )
    ]


def accuracy_files(
    figures=grid.ACCURACY_FIGURES, all_reference_cells=True, comparisons=None
):
    return files_of_rows(table_rows(figures, all_reference_cells, comparisons))


def files_of_rows(rows):
    files = [
        evaluation_file(d, cell, attack, format_number(eps), format_number(scale))
        for d, cell, attack, eps, scale in rows
    ]
    return list(dict.fromkeys(files))


def figure_selection(figure):
    """The (figures, all_reference_cells, comparisons) whose evaluations one figure shows."""
    if figure in config["comparison_figures"]:
        return (), False, [figure]
    return [figure], False, ()


def rows_of_figure(figure):
    """[dataset, cell, attack, eps, scale] of the evaluations one figure shows."""
    if figure == grid.DEFENCES_FIGURE:
        return [list(row) for row in grid.defence_comparison_evaluations(PLAIN_CONFIG)]
    return table_rows(*figure_selection(figure))


def figure_accuracy_files(wildcards):
    """Only what one figure shows: `snakemake results/figures/fig3.pdf` builds no more."""
    return files_of_rows(rows_of_figure(wildcards.figure))


def figure_table_rows(wildcards):
    return rows_of_figure(wildcards.figure)


def accuracy_figure_param(key):
    """One named param of an accuracy figure (layouts, grids, attacks, datasets, style)."""

    def param(wildcards):
        return accuracy_figure_settings(PLAIN_CONFIG, wildcards.figure)[key]

    return param


def sanity_params(wildcards):
    """The sanity checks of one figure's table (against its main attack), or of the full
    accuracy table (against figure_attack)."""
    figure = wildcards.get("figure")
    if figure is None:
        return sanity_settings(PLAIN_CONFIG, config["figure_attack"])
    return sanity_settings(PLAIN_CONFIG, grid.figure_attacks(PLAIN_CONFIG, figure)[0])


def latent_files():
    attack = config["figure_attack"]
    return [
        f"results/{d}/ae/{cell}/latent/{attack}_eps{format_number(eps)}.csv"
        for d, cell, eps in grid.latent_analyses(PLAIN_CONFIG)
    ]


def defence_labels():
    """The legend names the user defences give themselves (`label`)."""
    return {
        name: e["label"] for name, e in config["defences"].items() if e.get("label")
    }


CLAIMS_FILE = str(Path(workflow.basedir) / "workflow" / "claims.yaml")


def claims_figures():
    """The figures whose tables the claims compare, of those the config draws."""
    import yaml

    with open(CLAIMS_FILE) as handle:
        claims = yaml.safe_load(handle)["claims"]
    named = {
        each["figure"] for claim in claims.values() for each in claim["comparisons"]
    }
    return sorted(named & set(config["figures"]))


def claims_accuracy_tables():
    return [
        f"results/tables/accuracy_{f}.csv"
        for f in claims_figures()
        if f in grid.ACCURACY_FIGURES
    ]


def claims_latent_tables():
    return (
        ["results/tables/latent.csv"] if grid.LATENT_FIGURE in claims_figures() else []
    )


def expected_contents(wildcards):
    """What a dataset's files must hold where its format publishes no checksums (BTSC's
    counts, data.<dataset>.expected); nothing where it does."""
    if file_format(dataset_info(wildcards.dataset).layout).published_checksums:
        return {}
    return PLAIN_CONFIG["data"][wildcards.dataset]["expected"]


def health_inputs(wildcards):
    """A cell's models and test data, and the health attack's sets and evaluations at every
    eps of the grid and at the unbounded eps."""
    # the transfer sets are the undefended classifier's: its file gives their identity
    inputs = defence_inputs(wildcards, classifier_always=True)
    attack = config["health"]["attack"]
    for eps in grid.health_eps(PLAIN_CONFIG, wildcards.dataset):
        name = format_number(eps)
        inputs[job_inputs.eps_key(job_inputs.SET, eps)] = adversarial_set(
            wildcards.dataset, wildcards.defence, attack, name, wildcards.scale
        )
        inputs[job_inputs.eps_key(job_inputs.EVALUATION, eps)] = evaluation_file(
            wildcards.dataset, wildcards.defence, attack, name, wildcards.scale
        )
    # the figures' sanity check: the longer attack against the figure attack
    longer = config["sanity"]["longer_attack"]
    if longer:
        eps = format_number(grid.sanity_eps(PLAIN_CONFIG, wildcards.dataset))
        for key, name in (
            (job_inputs.FIGURE_ATTACK, config["figure_attack"]),
            (job_inputs.LONGER_ATTACK, longer),
        ):
            inputs[key] = evaluation_file(
                wildcards.dataset, wildcards.defence, name, eps, wildcards.scale
            )
    undefended = replicate_name(UNDEFENDED, split_replicate(wildcards.defence)[1])
    for eps in config["data"][wildcards.dataset]["eps"]:
        inputs[job_inputs.eps_key(job_inputs.TRANSFER, eps)] = adversarial_set(
            wildcards.dataset,
            undefended,
            config["health"]["transfer_attack"],
            format_number(eps),
            None,
        )
    return inputs


def health_params(wildcards):
    return health_settings(
        PLAIN_CONFIG, wildcards.dataset, wildcards.defence, float(wildcards.scale)
    )


def defence_health_files(wildcards):
    """The health rows of every point of the defence comparison."""
    return [
        f"results/{d}/ae/{name}/health/s{format_number(scale)}.csv"
        for d in config["datasets"]
        for name, scale in grid.defence_comparison_points(PLAIN_CONFIG, d)
    ]


def health_files():
    return [
        f"results/{d}/ae/{cell}/health/s{format_number(scale)}.csv"
        for d, cell, scale in grid.health_points(PLAIN_CONFIG)
    ]


def known_targets():
    """The files this config can build that a user names as targets: the figures, the tables,
    and every model, adversarial set and evaluation of the grid."""
    figures = [
        *grid.FIGURES,
        *config["comparison_figures"],
        grid.DEFENCES_FIGURE,
    ]
    names = [f"results/figures/{name}.pdf" for name in figures]
    names += [
        f"results/tables/accuracy_{name}.csv"
        for name in figures
        if name != grid.LATENT_FIGURE
    ]
    names += [
        f"results/tables/{name}.csv"
        for name in ("accuracy", "latent", "health", "sanity")
    ]
    names += [
        "results/tables/health_defences.csv",
        "results/tables/accuracy_summary.csv",
    ]
    for dataset in config["datasets"]:
        names += [f"results/{dataset}/classifier.pt", f"results/{dataset}/data/test.pt"]
        names += [
            f"results/{dataset}/ae/{cell}/model.pt" for cell in sorted(PLANNED_CELLS)
        ]
    rows = table_rows()
    names += files_of_rows(rows)
    names += [
        adversarial_set(d, cell, attack, format_number(eps), format_number(scale))
        for d, cell, attack, eps, scale in rows
        if attack not in (CLEAN, WORST)  # evaluations only: no set of their own
    ]
    return list(dict.fromkeys(names))


def snakemake_command_line():
    """This Snakemake's command line, read as Snakemake reads it; None where it cannot read it
    (it reports that itself)."""
    from snakemake.cli import get_argument_parser

    try:
        return get_argument_parser().parse_known_args(sys.argv[1:])[0]
    except SystemExit:
        return None


COMMAND_LINE = snakemake_command_line()


def building_report():
    """Whether this Snakemake builds the report (--report or --reporter)."""
    return COMMAND_LINE is not None and (
        COMMAND_LINE.report is not None or bool(COMMAND_LINE.reporter)
    )


def refuse_unknown_targets():
    """A target that nothing makes (a typo: fig3.pfd, results/mnsit/...) is named with the closest
    targets this config has, before Snakemake's MissingRuleException."""
    import difflib

    if COMMAND_LINE is None:
        return
    targets = COMMAND_LINE.targets or []
    rule_names = {each.name for each in workflow.rules}
    for target in targets:
        if target in rule_names or Path(target).exists():
            continue
        producers = [each for each in workflow.rules if each.is_producer(target)]
        if producers:
            refuse_target_outside_config(target, producers[0].get_wildcards(target))
            continue
        close = difflib.get_close_matches(target, known_targets(), n=3, cutoff=0.6)
        hint = (
            f"the closest this config builds: {', '.join(close)}"
            if close
            else "docs/usage.md lists the targets"
        )
        raise WorkflowError(f"nothing in this workflow makes {target}; {hint}")


def refuse_target_outside_config(target, wildcards):
    """A command-line target outside the grid (an eps not in it, 0.30 for 0.3, a cell no figure
    trains) is refused here, in a sentence, rather than by the input function of its job (which
    Snakemake wraps in an InputFunctionException with a traceback)."""
    if "dataset" not in wildcards or not {"defence", "classifier"} & set(wildcards):
        return  # the data of any known dataset can be built, as its rules allow
    problems = grid.target_problems(
        PLAIN_CONFIG,
        wildcards["dataset"],
        cells=PLANNED_CELLS,
        name=wildcards.get("defence", wildcards.get("classifier")),
        attack=wildcards.get("attack"),
        eps=wildcards.get("eps"),
        scale=wildcards.get("scale"),
    )
    if problems and target not in known_targets():
        raise WorkflowError(outside_config_message(target, problems))


def training_time_limit(wildcards, attempt):
    """A cluster's time limit for an autoencoder's training: its image-steps at a GPU's rate
    for its kind of training, with headroom (cost/rates.py); twice that on the retry.
    """
    return cluster_training_minutes(PLAIN_CONFIG, dict(wildcards.items())) * attempt


HEALTH_TABLE = "results/tables/health.csv"


def health_summaries():
    """Each accuracy figure's sentence for its report caption: how many of its points pass
    every check (read from the health table: only when the report is built)."""
    return {
        figure: results.health_summary(
            HEALTH_TABLE,
            {(d, cell, scale) for d, cell, _, _, scale in rows_of_figure(figure)},
        )
        for figure in [
            *grid.ACCURACY_FIGURES,
            *config["comparison_figures"],
            grid.DEFENCES_FIGURE,
        ]
    }
