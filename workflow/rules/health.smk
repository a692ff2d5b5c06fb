# Evidence that the evaluation did not fail: the health checks of every cell and latent scale
# of the accuracy figures (aedefense/health.py), and their table.


rule health:
    input:
        unpack(health_inputs),
    output:
        "results/{dataset}/ae/{ae}/health/s{scale}.csv",
    log:
        "logs/{dataset}/ae/{ae}/health/s{scale}.log",
    benchmark:
        "logs/{dataset}/ae/{ae}/health/s{scale}.benchmark.tsv"
    conda:
        ENVIRONMENT
    threads: config["threads"]["evaluate"]
    resources:
        device=config["device"],  # where a job runs is no reason to rerun it
    params:
        settings=health_params,
    script:
        "../scripts/health.py"


rule health_table:
    input:
        health_files(),
    output:
        report(
            "results/tables/health.csv",
            caption="../report/health_table.rst",
            category="Tables",
        ),
    log:
        "logs/tables/health.log",
    conda:
        ENVIRONMENT
    script:
        "../scripts/health_table.py"
