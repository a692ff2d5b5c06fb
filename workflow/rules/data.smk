# Download (on the machine that runs snakemake), verify, and prepare the datasets.


rule download:
    output:
        "resources/{dataset}/{filename}",
    log:
        "logs/{dataset}/download/{filename}.log",
    params:
        expected=btsc_expected,
    run:
        download_one(wildcards, output[0], log[0], params.expected)


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
        expected=btsc_expected,
    script:
        "../scripts/prepare.py"
