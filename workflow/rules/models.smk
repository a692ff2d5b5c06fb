# Train the classifier of each dataset and one autoencoder per cell, once per training seed.


rule train_classifier:
    input:
        train="results/{dataset}/data/train.pt",
        test="results/{dataset}/data/test.pt",
    output:
        model="results/{dataset}/{classifier}.pt",
        metrics="results/{dataset}/{classifier}.metrics.json",
    log:
        "logs/{dataset}/train_{classifier}.log",
    benchmark:
        "logs/{dataset}/train_{classifier}.benchmark.tsv"
    conda:
        ENVIRONMENT
    threads: grid.rule_threads(config, "train_classifier")
    resources:
        device=config["device"],  # where a job runs is no reason to rerun it
    params:
        settings=classifier_params,
    script:
        "../scripts/train_classifier.py"


rule train_autoencoder:
    input:
        train="results/{dataset}/data/train.pt",
        test="results/{dataset}/data/test.pt",
    output:
        model="results/{dataset}/ae/{defence}/model.pt",
        metrics="results/{dataset}/ae/{defence}/metrics.json",
        grid=report(
            "results/{dataset}/ae/{defence}/reconstructions.png",
            caption="../report/reconstructions.rst",
            category="Reconstructions",
            subcategory="{dataset}",
            labels={"cell": "{defence}"},
        ),
    log:
        "logs/{dataset}/ae/{defence}/train_autoencoder.log",
    benchmark:
        "logs/{dataset}/ae/{defence}/train_autoencoder.benchmark.tsv"
    conda:
        ENVIRONMENT
    threads: grid.rule_threads(config, "train_autoencoder")
    resources:
        device=config["device"],  # where a job runs is no reason to rerun it
        runtime=training_time_limit,  # minutes, read by a cluster's executor
    params:
        settings=autoencoder_params,
    script:
        "../scripts/train_autoencoder.py"
