# The tidy tables: every evaluation of the run (accuracy, its summary over training seeds,
# the sanity checks), one figure's rows, and the latent analyses of Fig. 5.


rule accuracy_table:
    input:
        accuracy_files(),
    output:
        table=report(
            "results/tables/accuracy.csv",
            caption="../report/accuracy_table.rst",
            category="Tables",
        ),
        summary=report(
            "results/tables/accuracy_summary.csv",
            caption="../report/accuracy_summary.rst",
            category="Tables",
        ),
        sanity=report(
            "results/tables/sanity.csv",
            caption="../report/sanity_table.rst",
            category="Tables",
        ),
    log:
        "logs/tables/accuracy.log",
    conda:
        ENVIRONMENT
    params:
        kind="accuracy",
        rows=table_rows(),
        sanity=sanity_params,
    script:
        "../scripts/table.py"


rule latent_table:
    input:
        latent_files(),
    output:
        table=report(
            "results/tables/latent.csv",
            caption="../report/latent_table.rst",
            category="Tables",
        ),
    log:
        "logs/tables/latent.log",
    conda:
        ENVIRONMENT
    params:
        kind="latent",
    script:
        "../scripts/table.py"


rule figure_table:
    input:
        figure_accuracy_files,
    output:
        table=report(
            "results/tables/accuracy_{figure}.csv",
            caption="../report/figure_table.rst",
            category="{figure}",
            labels={"item": "table"},
        ),
        sanity=report(
            "results/tables/sanity_{figure}.csv",
            caption="../report/sanity_table.rst",
            category="{figure}",
            labels={"item": "sanity checks"},
        ),
    log:
        "logs/tables/accuracy_{figure}.log",
    conda:
        ENVIRONMENT
    params:
        rows=figure_table_rows,
        sanity=sanity_params,
    script:
        "../scripts/figure_table.py"


# The paper's claims and our own findings (workflow/claims.yaml), judged on the figures'
# tables: per claim, dataset and comparison the paired effect, the training-seed spread and a
# verdict (docs/claims.md).
rule claims:
    input:
        claims=CLAIMS_FILE,
        accuracy=claims_accuracy_tables(),
        latent=claims_latent_tables(),
    output:
        table=report(
            "results/tables/claims.csv",
            caption="../report/claims.rst",
            category="Claims",
        ),
    log:
        "logs/tables/claims.log",
    conda:
        ENVIRONMENT
    params:
        datasets=list(config["datasets"]),
    script:
        "../scripts/claims.py"
