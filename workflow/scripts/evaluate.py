"""Rule evaluate: accuracy of the defence as deployed (VAE sampling at scale s, averaged over
latent draws) on one adversarial set, or on the clean attacked images (attack 'clean')."""

import torch

from aedefense.adversarial import load_adversarial_set
from aedefense.checkpoints import load_autoencoder, load_classifier
from aedefense.data.prepared import load_prepared
from aedefense.evaluation import accuracy_over_draws, attacked_indices
from aedefense.jobs import job
from aedefense.results import accuracy_row, write_rows
from aedefense.training import seed_everything, select_device, to_unit

with job(snakemake):
    device = select_device(snakemake.params.device)
    settings = dict(snakemake.params.settings)
    dataset, cell = snakemake.wildcards.dataset, snakemake.wildcards.ae
    classifier, classifier_settings = load_classifier(snakemake.input.classifier)
    autoencoder, autoencoder_settings = (
        load_autoencoder(snakemake.input.autoencoder)
        if "autoencoder" in snakemake.input.keys()
        else (None, None)
    )
    test = load_prepared(snakemake.input.test)
    indices = attacked_indices(dataset, len(test["labels"]), settings["images"], settings.get("subset_seed", 0))
    if "adversarial" in snakemake.input.keys():
        adversarial = load_adversarial_set(snakemake.input.adversarial)
        if not torch.equal(adversarial["indices"], indices):
            raise ValueError(
                f"{snakemake.input.adversarial} attacked other images than this evaluation "
                "expects; rebuild it (snakemake --forcerun attack ...)"
            )
        images, attack = adversarial["adversarial"], adversarial
    else:
        images, attack = to_unit(test["images"][indices]), None
    labels = test["labels"][indices]
    seed_everything(settings.get("seed", 0), device)
    classifier.to(device)
    if autoencoder is not None:
        autoencoder.to(device)
    accuracies = accuracy_over_draws(
        classifier, autoencoder, images.to(device), labels.to(device), settings["scale"],
        settings.get("draws", 1), settings.get("seed", 0), settings["batch_size"],
    )
    row = accuracy_row(
        dataset, cell, float(snakemake.wildcards.eps), settings, accuracies, attack,
        classifier_settings, autoencoder_settings, snakemake.wildcards.attack,
    )
    write_rows([row], snakemake.output[0])
    print(row)
