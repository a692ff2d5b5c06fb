"""What limits the defended clean accuracy of the VAE cells: a measurement, not a workflow rule.

    python studies/vae_limits.py --run <workflow run directory> --dataset mnist --out <csv>

Trains VAE cells with the workflow's own training code on the run's prepared data (each
cell's settings from config.yaml as its training job gets them), in variants: the training curve to `--epochs`, and
learning rates beside config.yaml's. After each evaluated epoch it measures, on the whole test
set, with the run's trained classifier:

- accuracy_mean: the defended clean accuracy at z = mu (the figures' latent scale 0);
- accuracy_scale1: the same at latent scale 1, the mean over `--draws` draws;
- background: the mean reconstruction on the pixels that are black (0) in the clean image; a
  cell that learned to reproduce its noisy input paints them grey (clipped N(0, stp^2) noise
  on a black pixel has mean stp / sqrt(2 pi), about 0.16 at stp 0.4);
- accuracy_background_removed: the defended accuracy at z = mu after the reconstruction's
  background level b is taken out, x -> clip((x - b) / (1 - b), 0, 1): how much of the gap to
  the classifier the grey background explains;
- classifier_on_grey: the classifier alone on clean images lifted to the same background
  level, x -> b + (1 - b) x.

Each row holds the cell, the variant, the settings that differ from config.yaml and the
epoch; docs/reproduction/vae-limits.md reads the table.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from aedefense.data.prepared import load_prepared, to_unit  # noqa: E402
from aedefense.jobs.checkpoints import load_classifier  # noqa: E402
from aedefense.jobs.training import train_autoencoder  # noqa: E402
from aedefense.plan.cells import cell_from_name  # noqa: E402
from aedefense.plan.params import autoencoder_settings  # noqa: E402


@torch.no_grad()
def measure(classifier, vae, images, labels, draws: int, batch_size: int = 500) -> dict:
    vae.eval()
    sums = dict.fromkeys(["mean", "scale1", "removed", "grey"], 0.0)
    background, black = 0.0, 0
    generator = torch.Generator().manual_seed(0)
    reconstructions = []
    for start in range(0, len(labels), batch_size):
        x = images[start : start + batch_size]
        reconstructions.append(vae(x))
        mask = x == 0
        background += float(reconstructions[-1][mask].sum())
        black += int(mask.sum())
    level = background / max(black, 1)
    for start, reconstruction in zip(range(0, len(labels), batch_size), reconstructions):
        x, y = images[start : start + batch_size], labels[start : start + batch_size]

        def correct(inputs, y=y):
            return float((classifier(inputs).argmax(1) == y).sum())

        sums["mean"] += correct(reconstruction)
        sums["scale1"] += sum(correct(vae(x, scale=1.0, generator=generator)) for _ in range(draws)) / draws
        sums["removed"] += correct(((reconstruction - level) / (1 - level)).clamp(0, 1))
        sums["grey"] += correct(level + (1 - level) * x)
    n = len(labels)
    return {
        "accuracy_mean": sums["mean"] / n,
        "accuracy_scale1": sums["scale1"] / n,
        "background": level,
        "accuracy_background_removed": sums["removed"] / n,
        "classifier_on_grey": sums["grey"] / n,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a workflow run directory with trained classifier")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--cells", nargs="+", default=["vae_d0_stp0.4_a0", "vae_d1_stp0.4_a0"])
    parser.add_argument("--epochs", type=int, default=30, help="length of the training curve (0: none)")
    parser.add_argument("--curve-at", type=int, nargs="+", default=[1, 2, 5, 10, 20, 30])
    parser.add_argument("--lrs", type=float, nargs="+", default=[3e-4, 3e-3], help="beside config.yaml's lr")
    parser.add_argument("--lr-epochs", type=int, default=10, help="epochs of each learning rate's run")
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--out", type=Path, required=True, help="the table, rewritten after each measurement")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    data_dir = args.run / "results" / args.dataset / "data"
    data = {"train": load_prepared(data_dir / "train.pt"), "test": load_prepared(data_dir / "test.pt")}
    classifier, _ = load_classifier(args.run / "results" / args.dataset / "classifier.pt")
    classifier.eval()
    images, labels = to_unit(data["test"]["images"]), data["test"]["labels"]
    with torch.no_grad():
        undefended = float((classifier(images).argmax(1) == labels).float().mean())

    variants = [("curve", {"epochs": args.epochs}, set(args.curve_at))] if args.epochs > 0 else []
    lr_evaluated = {e for e in args.curve_at if e <= args.lr_epochs} | {args.lr_epochs}
    variants += [(f"lr {lr:g}", {"epochs": args.lr_epochs, "lr": lr}, lr_evaluated) for lr in args.lrs]
    evaluated_epochs = {variant: epochs for variant, _, epochs in variants}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for cell_name in args.cells:
        cell = cell_from_name(cell_name)
        for variant, changes, _ in variants:
            # the cell's settings as its training job gets them, with the variant on top
            settings = {**autoencoder_settings(config, args.dataset, cell_name), **changes}
            start = time.perf_counter()

            def after_epoch(epoch, model, cell_name=cell_name, variant=variant, settings=settings, start=start):
                if epoch not in evaluated_epochs[variant]:
                    return
                row = {"dataset": args.dataset, "cell": cell_name, "variant": variant, "epoch": epoch}
                row.update(lr=settings["lr"], likelihood=settings["vae_likelihood"], n_images=len(labels))
                row.update(measure(classifier, model, images, labels, args.draws))
                row.update(classifier_alone=undefended, seconds=round(time.perf_counter() - start, 1))
                model.train()
                rows.append(row)
                print(row, flush=True)
                with open(args.out, "w", newline="") as handle:  # rewritten whole after each row
                    writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
                    writer.writeheader()
                    writer.writerows(rows)

            train_autoencoder(data, cell, settings, torch.device("cpu"), log=lambda _: None, after_epoch=after_epoch)


if __name__ == "__main__":
    main()
