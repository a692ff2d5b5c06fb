"""Rule health: the evaluation-health checks of one cell at one latent scale (aedefense/report/health.py),
from the health attack's adversarial sets and evaluations at every eps, and from the defence
itself (randomness, zero gradients)."""

import csv
from statistics import fmean

import torch

from aedefense.cost import work
from aedefense.data.prepared import load_prepared, to_unit
from aedefense.files.provenance import sha256_of
from aedefense.jobs.adversarial import check_against_clean, load_adversarial_set, set_identity
from aedefense.jobs.checkpoints import load_defence
from aedefense.jobs.evaluation import accuracy_over_draws, attacked_indices
from aedefense.jobs.runtime import job
from aedefense.plan.cells import replicate_name, split_replicate
from aedefense.plan.job_inputs import EVALUATION, FIGURE_ATTACK, LONGER_ATTACK, SET, TRANSFER, inputs_by_eps
from aedefense.plan.names import UNDEFENDED
from aedefense.report import health
from aedefense.report.results import cell_columns, check_csv, write_rows


def accuracy_at_scale(path, scale):
    """The accuracy of one scale's row of an evaluation file, checked (results.check_csv)."""
    check_csv(path, "result file")
    with open(path, newline="") as handle:
        (row,) = [r for r in csv.DictReader(handle) if float(r["scale"]) == scale]
    return float(row["accuracy_mean"])


with job(snakemake) as timer:
    device = timer.device(snakemake.resources.device)
    settings = dict(snakemake.params.settings)
    dataset, cell, scale = snakemake.wildcards.dataset, snakemake.wildcards.defence, settings["scale"]
    attack = settings["attack"]
    with timer.phase("load"):
        defence = load_defence(
            dict(snakemake.input.items()), dataset, cell, settings.get("defence"), snakemake.params.models
        )
        test = load_prepared(snakemake.input.test, dataset=dataset, split="test")
        indices = attacked_indices(dataset, len(test["labels"]), settings["images"], settings.get("subset_seed", 0))
        clean, labels = to_unit(test["images"][indices]), test["labels"][indices]
        records, accuracies, transferred = {}, {}, {}
        undefended = replicate_name(UNDEFENDED, split_replicate(cell)[1])
        inputs = dict(snakemake.input.items())
        for eps, path in inputs_by_eps(inputs, TRANSFER).items():
            record = load_adversarial_set(path)
            # the undefended classifier's sets: its sha256 (the input's: a whole model's own
            # sources hold none) and the test data's
            sources = {"classifier_sha256": sha256_of(snakemake.input.classifier)}
            sources["test_sha256"] = defence.sources["test_sha256"]
            expected = set_identity(dataset, undefended, settings["transfer_attack"], eps, None, sources)
            check_against_clean(record, path, expected, indices, clean, labels)
            transferred[eps] = record["adversarial"]
        for eps, path in inputs_by_eps(inputs, SET).items():
            records[eps] = load_adversarial_set(path)
            expected = set_identity(dataset, cell, attack, eps, scale, defence.sources)
            check_against_clean(records[eps], path, expected, indices, clean, labels)
        for eps, path in inputs_by_eps(inputs, EVALUATION).items():
            accuracies[eps] = accuracy_at_scale(path, scale)
        longer = None
        if LONGER_ATTACK in inputs:
            longer = {key: accuracy_at_scale(inputs[key], scale) for key in (FIGURE_ATTACK, LONGER_ATTACK)}
        timer.place(defence, device, snakemake.resources)  # the form the attacks and evaluations ran
    unbounded = settings["unbounded_eps"]
    grid = {eps: records[eps] for eps in settings["eps"]}
    with timer.phase("compute"):
        x, y = clean.to(device), labels.to(device)

        @torch.no_grad()
        def predictions(seed):
            generator = torch.Generator(device=device).manual_seed(settings["seed"] + seed)
            torch.manual_seed(settings["seed"] + seed)  # a user defence draws from torch's generator
            model = defence.model(scale, generator).eval()
            size = settings["batch_size"]
            return torch.cat([model(x[i : i + size]).argmax(1) for i in range(0, len(x), size)])

        protocol = records[unbounded]["settings"].get("protocol") or [records[unbounded]["settings"]]
        with_eot = all(part.get("eot_draws", 1) > 1 for part in protocol)
        # the gradient the attacks saw: one draw where the defence samples, through BPDA
        # where it is declared non-differentiable
        generator = torch.Generator(device=device).manual_seed(settings["seed"])
        deployed = defence.model(scale, generator, attack=True).eval()
        transfer = {
            eps: fmean(
                accuracy_over_draws(
                    defence,
                    images.to(device),
                    y,
                    scale,
                    settings.get("draws", 1),
                    settings["seed"],
                    settings["batch_size"],
                )
            )
            for eps, images in transferred.items()
        }
        checks = [
            health.unbounded_attack_breaks(accuracies[unbounded], unbounded, settings["unbounded_max_accuracy"]),
            health.accuracy_does_not_rise_with_eps({e: accuracies[e] for e in settings["eps"]}, len(y)),
            health.longer_attack_does_not_raise_accuracy(longer, len(y)),
            health.gradient_free_within_white_box(grid),
            health.transfer_within_white_box({e: accuracies[e] for e in settings["eps"]}, transfer, len(y)),
            health.randomness_attacked_with_eot(predictions, with_eot),
            health.zero_gradients(deployed, x, y, settings["zero_gradient_max_share"], settings["batch_size"]),
            health.attack_converged(grid, settings["late_success_max_share"]),
        ]
    base, replicate = split_replicate(cell)
    # the cell's (or user defence's) settings, to trace the row
    described = defence.columns() or cell_columns(base, defence.autoencoder_settings)
    rows = [
        {
            "dataset": dataset,
            "cell": base,
            "replicate": replicate,
            "scale": scale,
            "check": one["check"],
            "verdict": one["verdict"],
            "measured": one["measured"],
            "threshold": one["threshold"],
            "detail": one["detail"],
            "attack": attack,
            "n_images": len(y),
            **described,
        }
        for one in checks
    ]
    with timer.phase("save"):
        write_rows(rows, snakemake.output[0], inputs=snakemake.input)
    timer.work = {"unit": "image-forwards", "amount": work.health(len(y), len(transferred), settings.get("draws", 1))}
    for row in rows:
        print(row["check"], row["verdict"], row["detail"])
