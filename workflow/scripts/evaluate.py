"""Rules evaluate and evaluate_adaptive: accuracy of the defence as deployed (VAE sampling at
scale s, averaged over latent draws) on one adversarial set, on the clean attacked images
(attack names.CLEAN), or on the per-example worst case over several adversarial sets (attack
names.WORST); one row per latent scale of settings['scales']."""

from aedefense.core.models import keeps_numbers
from aedefense.cost import work
from aedefense.data.prepared import load_prepared, to_unit
from aedefense.jobs.adversarial import load_evaluated_sets, set_identity, worst_case
from aedefense.jobs.checkpoints import load_defence
from aedefense.jobs.evaluation import attacked_indices, correct_over_draws, draw_seed
from aedefense.jobs.runtime import job
from aedefense.jobs.setup import seed_everything
from aedefense.plan.job_inputs import ADVERSARIAL, inputs_by_attack
from aedefense.plan.names import WORST
from aedefense.plan.params import at_scale
from aedefense.report.results import accuracy_row, write_rows

with job(snakemake) as timer:
    device = timer.device(snakemake.resources.device)
    settings = dict(snakemake.params.settings)
    dataset, cell = snakemake.wildcards.dataset, snakemake.wildcards.defence
    with timer.phase("load"):
        defence = load_defence(
            dict(snakemake.input.items()), dataset, cell, settings.get("defence"), snakemake.params.models
        )
        test = load_prepared(snakemake.input.test, dataset=dataset, split="test")
        indices = attacked_indices(dataset, len(test["labels"]), settings["images"], settings.get("subset_seed", 0))
        clean = to_unit(test["images"][indices])
        # the set of the job's attack, or one set per attack of the worst case
        attack_name = snakemake.wildcards.attack
        inputs = dict(snakemake.input.items())
        paths = {attack_name: inputs[ADVERSARIAL]} if ADVERSARIAL in inputs else inputs_by_attack(inputs)
        set_scale = snakemake.wildcards.get("scale")  # an adaptive attack's set is made at one scale
        expected = set_identity(
            dataset,
            cell,
            attack_name,
            float(snakemake.wildcards.eps),
            None if set_scale is None else float(set_scale),
            defence.sources,
        )
        records = load_evaluated_sets(paths, expected, indices, clean, test["labels"][indices])
        if not records:
            image_sets, attack = [clean], None
        else:
            image_sets = [record["adversarial"] for record in records.values()]
            attack = worst_case(records) if attack_name == WORST else records[attack_name]
        labels = test["labels"][indices].to(device)
        image_sets = [images.to(device) for images in image_sets]
        folded = timer.place(defence, device, snakemake.resources)
    print(f"evaluating {dataset}/{cell} on {device}{folded}")
    rows, draws_per_scale = [], []
    pieces = snakemake.resources.cpu_forward_batch

    def batch_size_at(scale):
        """On a CPU, cache-sized batches where they give each image the same numbers."""
        if device.type == "cpu" and pieces and keeps_numbers(defence.model(scale), pieces):
            return min(settings["batch_size"], pieces)
        return settings["batch_size"]

    with timer.phase("compute"):
        seed_everything(settings.get("seed", 0), device)
        for scale in settings["scales"]:
            one = at_scale(settings, defence.samples_at(scale), scale)
            accuracies, correct_counts = correct_over_draws(
                defence,
                image_sets,
                labels,
                scale,
                one.get("draws", 1),
                draw_seed(one, attack_name, snakemake.wildcards.eps),
                batch_size_at(scale),
            )
            draws_per_scale.append(len(accuracies))
            rows.append(
                accuracy_row(
                    dataset=dataset,
                    cell=cell,
                    eps=float(snakemake.wildcards.eps),
                    attack_name=snakemake.wildcards.attack,
                    settings=one,
                    accuracies=accuracies,
                    correct_counts=correct_counts,
                    attack=attack,
                    classifier_settings=defence.classifier_settings,
                    autoencoder_settings=defence.autoencoder_settings,
                    defence_columns=defence.columns(),
                )
            )
    with timer.phase("save"):
        write_rows(rows, snakemake.output[0], inputs=snakemake.input)
    timer.work = {"unit": "image-forwards", "amount": work.evaluation(len(labels), draws_per_scale, len(image_sets))}
    for row in rows:
        print(row)
