# Attack every defended model white-box, evaluate the defence as deployed, and analyse the
# latent space.


rule attack:
    input:
        unpack(defence_inputs),
    output:
        "results/{dataset}/ae/{defence}/adv/{attack}_eps{eps}.pt",
        # the sha256 the attack wrote (jobs/adversarial.py): a set edited later is refused
        "results/{dataset}/ae/{defence}/adv/{attack}_eps{eps}.pt.sha256",
    log:
        "logs/{dataset}/ae/{defence}/attack/{attack}_eps{eps}.log",
    benchmark:
        "logs/{dataset}/ae/{defence}/attack/{attack}_eps{eps}.benchmark.tsv"
    wildcard_constraints:
        attack=attack_names(adaptive=False),
    conda:
        ENVIRONMENT
    threads: grid.rule_threads(config, "attack")
    resources:
        device=config["device"],  # where a job runs is no reason to rerun it
        cpu_forward_batch=config["cpu_forward_batch"] or 0,  # nor how it batches its forwards
        fast_forward=int(config["fast_forward"]),  # nor whether it runs the classifier folded
    params:
        settings=attack_params,
        models=model_params,
    script:
        "../scripts/attack.py"


# An adaptive (EOT) attack attacks the defence as deployed: one adversarial set per scale.
use rule attack as attack_adaptive with:
    output:
        "results/{dataset}/ae/{defence}/adv/{attack}_eps{eps}_s{scale}.pt",
        "results/{dataset}/ae/{defence}/adv/{attack}_eps{eps}_s{scale}.pt.sha256",
    log:
        "logs/{dataset}/ae/{defence}/attack/{attack}_eps{eps}_s{scale}.log",
    benchmark:
        "logs/{dataset}/ae/{defence}/attack/{attack}_eps{eps}_s{scale}.benchmark.tsv"
    wildcard_constraints:
        attack=attack_names(adaptive=True),


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        "results/{dataset}/ae/{defence}/eval/{attack}_eps{eps}.csv",
    log:
        "logs/{dataset}/ae/{defence}/evaluate/{attack}_eps{eps}.log",
    benchmark:
        "logs/{dataset}/ae/{defence}/evaluate/{attack}_eps{eps}.benchmark.tsv"
    wildcard_constraints:
        attack="|".join([attack_names(adaptive=False), CLEAN, WORST]),
    conda:
        ENVIRONMENT
    threads: grid.rule_threads(config, "evaluate")
    resources:
        device=config["device"],  # where a job runs is no reason to rerun it
        cpu_forward_batch=config["cpu_forward_batch"] or 0,  # nor how it batches its forwards
        fast_forward=int(config["fast_forward"]),  # nor whether it runs the classifier folded
    params:
        settings=evaluate_params,
        models=model_params,
    script:
        "../scripts/evaluate.py"


# An adaptive attack's sets are made per scale, and so are their evaluations.
use rule evaluate as evaluate_adaptive with:
    output:
        "results/{dataset}/ae/{defence}/eval/{attack}_eps{eps}_s{scale}.csv",
    log:
        "logs/{dataset}/ae/{defence}/evaluate/{attack}_eps{eps}_s{scale}.log",
    benchmark:
        "logs/{dataset}/ae/{defence}/evaluate/{attack}_eps{eps}_s{scale}.benchmark.tsv"
    wildcard_constraints:
        attack=attack_names(adaptive=True),


rule latent:
    input:
        unpack(latent_inputs),
    output:
        "results/{dataset}/ae/{defence}/latent/{attack}_eps{eps}.csv",
    log:
        "logs/{dataset}/ae/{defence}/latent/{attack}_eps{eps}.log",
    conda:
        ENVIRONMENT
    threads: grid.rule_threads(config, "latent")
    resources:
        device=config["device"],  # where a job runs is no reason to rerun it
    params:
        models=latent_params,
    script:
        "../scripts/latent.py"
