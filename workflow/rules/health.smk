# Evidence that the evaluation did not fail: the health checks of every cell and latent scale
# of the accuracy figures (aedefense/report/health.py), and their table.


rule health:
    input:
        unpack(health_inputs),
    output:
        "results/{dataset}/ae/{defence}/health/s{scale}.csv",
    log:
        "logs/{dataset}/ae/{defence}/health/s{scale}.log",
    benchmark:
        "logs/{dataset}/ae/{defence}/health/s{scale}.benchmark.tsv"
    conda:
        ENVIRONMENT
    threads: grid.rule_threads(config, "health")
    resources:
        device=config["device"],  # where a job runs is no reason to rerun it
        fast_forward=int(config["fast_forward"]),  # nor whether it runs the classifier folded
    params:
        settings=health_params,
        models=model_params,
    script:
        "../scripts/health.py"


rule health_table:
    input:
        health_files(),
    output:
        report(
            HEALTH_TABLE,
            caption="../report/health_table.rst",
            category="Tables",
        ),
    log:
        "logs/tables/health.log",
    conda:
        ENVIRONMENT
    script:
        "../scripts/health_table.py"


# The health rows of the defence comparison (every user defence and the cells shown beside
# them), without the paper grid's: what results/figures/defences.pdf labels its curves with.
use rule health_table as defences_health_table with:
    input:
        defence_health_files,
    output:
        report(
            "results/tables/health_defences.csv",
            caption="../report/health_table.rst",
            category="defences",
            labels={"item": "health"},
        ),
    log:
        "logs/tables/health_defences.log",


rule contract:
    input:
        unpack(contract_inputs),
    output:
        "results/{dataset}/ae/{defence}/contract.json",
    log:
        "logs/{dataset}/ae/{defence}/contract.log",
    wildcard_constraints:
        defence="|".join(map(re.escape, config["defences"])) or "(?!)",
    conda:
        ENVIRONMENT
    threads: grid.rule_threads(config, "contract")
    resources:
        device=config["device"],  # where a job runs is no reason to rerun it
    params:
        entry=contract_params,
    script:
        "../scripts/contract.py"
