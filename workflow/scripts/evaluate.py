"""Rules evaluate and evaluate_adaptive: accuracy of the defence as deployed (VAE sampling at
scale s, averaged over latent draws) on one adversarial set, on the clean attacked images
(attack names.CLEAN), or on the per-example worst case over several adversarial sets (attack
names.WORST); one row per latent scale of settings['scales']."""

from aedefense.adversarial import load_evaluated_sets, worst_case
from aedefense.checkpoints import load_autoencoder, load_classifier
from aedefense.data.prepared import load_prepared, to_unit
from aedefense.evaluation import accuracy_over_draws, attacked_indices
from aedefense.jobs import job
from aedefense.params import at_scale
from aedefense.results import accuracy_row, write_rows
from aedefense.setup import seed_everything

with job(snakemake) as timer:
    device = timer.device(snakemake.resources.device)
    settings = dict(snakemake.params.settings)
    dataset, cell = snakemake.wildcards.dataset, snakemake.wildcards.ae
    with timer.phase("load"):
        classifier, classifier_settings = load_classifier(snakemake.input.classifier)
        autoencoder, autoencoder_settings = (
            load_autoencoder(snakemake.input.autoencoder) if "autoencoder" in snakemake.input.keys() else (None, None)
        )
        test = load_prepared(snakemake.input.test)
        indices = attacked_indices(dataset, len(test["labels"]), settings["images"], settings.get("subset_seed", 0))
        # input adversarial, or adversarial_<attack> for each attack of the worst case
        paths = {
            key.removeprefix("adversarial_"): path
            for key, path in snakemake.input.items()
            if key.startswith("adversarial")
        }
        records = load_evaluated_sets(paths, indices)
        if not records:
            image_sets, attack = [to_unit(test["images"][indices])], None
        else:
            image_sets = [record["adversarial"] for record in records.values()]
            attack = records["adversarial"] if "adversarial" in records else worst_case(records)
        labels = test["labels"][indices].to(device)
        image_sets = [images.to(device) for images in image_sets]
        classifier.to(device)
        if autoencoder is not None:
            autoencoder.to(device)
    rows, forwards = [], 0
    with timer.phase("compute"):
        seed_everything(settings.get("seed", 0), device)
        for scale in settings["scales"]:
            # Every scale (and every evaluation job) seeds its latent draws alike: common
            # random numbers, so curves and scales differ by the defence, not by the noise.
            one = at_scale(settings, cell, scale)
            accuracies = accuracy_over_draws(
                classifier,
                autoencoder,
                image_sets,
                labels,
                scale,
                one.get("draws", 1),
                one.get("seed", 0),
                settings["batch_size"],
            )
            forwards += len(accuracies) * len(image_sets) * len(labels)
            rows.append(
                accuracy_row(
                    dataset=dataset,
                    cell=cell,
                    eps=float(snakemake.wildcards.eps),
                    attack_name=snakemake.wildcards.attack,
                    settings=one,
                    accuracies=accuracies,
                    attack=attack,
                    classifier_settings=classifier_settings,
                    autoencoder_settings=autoencoder_settings,
                )
            )
    with timer.phase("save"):
        write_rows(rows, snakemake.output[0])
    timer.work = {"unit": "image-forwards", "amount": forwards}
    for row in rows:
        print(row)
