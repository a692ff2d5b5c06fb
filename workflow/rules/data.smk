# Download (on the machine that runs snakemake), verify, and prepare the datasets.


rule download:
    output:
        "resources/{dataset}/{filename}",
    log:
        "logs/{dataset}/download/{filename}.log",
    conda:
        ENVIRONMENT
    params:
        expected=expected_contents,
    script:
        "../scripts/download.py"


rule prepare:
    input:
        raw_files,
    output:
        train="results/{dataset}/data/train.pt",
        test="results/{dataset}/data/test.pt",
    log:
        "logs/{dataset}/prepare.log",
    benchmark:
        "logs/{dataset}/prepare.benchmark.tsv"
    conda:
        ENVIRONMENT
    threads: grid.rule_threads(config, "prepare")
    params:
        expected=expected_contents,
    script:
        "../scripts/prepare.py"
