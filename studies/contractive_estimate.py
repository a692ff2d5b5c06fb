"""The exact contractive penalty against its projection estimate, measured on two workflow runs.

    python studies/contractive_estimate.py --projection <run> --exact <run> --out <csv>
        [--other-seed <run>] [--dataset mnist] [--cells ae_d0_stp0.1_a1 vae_d0_stp0.1_a1] [--attack cw]

Fig. 4's contractive cells train with `autoencoder.contractive: exact` (the paper's penalty, a
full Jacobian per image) or `projection` (an unbiased random-projection estimate, 20-35
times cheaper on a CPU). The two runs hold the same cells, trained the two ways with the same
seeds and epochs, attacked and evaluated by the workflow itself (docs/reproduction.md, "Exact
against projection", gives the commands). This script reads what they wrote and puts it side
by side, one tidy row per (cell, estimator, measure, eps, scale):

- contractive_exact: the exact penalty ||dh/dx||_F^2 the trained encoder has on clean test
  images (metrics.json; the workflow measures it for every contractive cell);
- training_seconds: the training time of the cell (the sum over its epochs);
- accuracy: the defended accuracy under the attack at each eps of the run (clean at eps 0),
  with its Wilson interval and n_images, from the cell's evaluation tables.

Paired on the same attacked images, from the adversarial sets (the attack's own view of the
defence: z = mu for a VAE), one row per (cell, eps, comparison) with measure
paired_difference: the accuracy under attack of the second model minus the first's, its
standard error from the images only one of them lost, and the two-sided sign-test p-value.
Two trained models differ by more than the image sample whenever their training draws differ,
so `--other-seed <run>` (the projection run again with seeds.autoencoder changed) gives the
yardstick: the same paired difference between two trainings of one estimator.

It refuses a run whose cell was not trained with the estimator it stands for.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

from aedefense.jobs.adversarial import load_adversarial_set
from aedefense.plan.params import CONTRACTIVE_ONLY

ESTIMATORS = ("exact", "projection")


def cell_rows(run: Path, dataset: str, cell: str, estimator: str, attack: str) -> tuple[list[dict], dict]:
    """The tidy rows of one cell of one run, and the settings the cell was trained with."""
    folder = run / "results" / dataset / "ae" / cell
    metrics_file = folder / "metrics.json"
    if not metrics_file.exists():
        raise SystemExit(f"{metrics_file} does not exist: build the cell's targets in {run} first")
    metrics = json.loads(metrics_file.read_text())
    trained_with = metrics["settings"].get("contractive")
    if trained_with != estimator:
        raise SystemExit(
            f"{metrics_file}: the cell was trained with contractive: {trained_with}, "
            f"but {run} is given as the {estimator} run"
        )
    if "contractive_exact" not in metrics:
        raise SystemExit(f"{metrics_file} has no contractive_exact: retrain the cell with this version")
    base = {"dataset": dataset, "cell": cell, "estimator": estimator, "epochs": metrics["settings"]["epochs"]}
    rows = [
        dict(base, measure="contractive_exact", value=metrics["contractive_exact"]),
        dict(base, measure="training_seconds", value=sum(epoch["seconds"] for epoch in metrics["history"])),
    ]
    clean, attacked = folder / "eval" / "clean_eps0.csv", sorted((folder / "eval").glob(f"{attack}_eps*.csv"))
    if not clean.exists() or not attacked:
        raise SystemExit(f"{folder / 'eval'} lacks the clean or the {attack} evaluations: build them first")
    tables = [clean, *attacked]
    for table in tables:
        with open(table, newline="") as handle:
            for row in csv.DictReader(handle):
                rows.append(
                    dict(
                        base,
                        measure="accuracy",
                        attack=row["attack"],
                        eps=float(row["eps"]),
                        scale=float(row["scale"]),
                        value=float(row["accuracy_mean"]),
                        ci_low=float(row["accuracy_ci_low"]),
                        ci_high=float(row["accuracy_ci_high"]),
                        n_images=int(row["n_images"]),
                    )
                )
    return rows, metrics["settings"]


def settings_that_differ(first: dict, second: dict, ignore=()) -> list[str]:
    return sorted(k for k in first.keys() | second.keys() if k not in ignore and first.get(k) != second.get(k))


def refuse_unlike_training(cell: str, settings: dict[str, dict]) -> None:
    """Stop unless the cell's two runs (settings by estimator) trained alike but for the
    estimator: epochs, seed and the rest."""
    exact, projection = settings["exact"], settings["projection"]
    differ = settings_that_differ(exact, projection, ignore=CONTRACTIVE_ONLY)
    if differ:
        shown = ", ".join(f"{k}: exact {exact.get(k)}, projection {projection.get(k)}" for k in differ)
        raise SystemExit(f"{cell} was trained differently in the two runs ({shown}): train both alike")


def sign_test_p(only_first: int, only_second: int) -> float:
    """Two-sided exact sign test: are images lost by one model only equally likely either way?"""
    discordant = only_first + only_second
    if discordant == 0:
        return 1.0
    tail = sum(math.comb(discordant, k) for k in range(min(only_first, only_second) + 1))
    return min(1.0, 2 * tail / 2**discordant)


def paired_difference(first: dict, second: dict) -> dict:
    """Accuracy under attack of `second` minus `first`'s on the same images, from two
    adversarial sets: the difference, its standard error and the sign-test p-value.

    >>> import torch
    >>> a = {"indices": torch.arange(4), "success": torch.tensor([True, False, False, False])}
    >>> b = {"indices": torch.arange(4), "success": torch.tensor([False, False, True, True])}
    >>> paired_difference(a, b)["value"], paired_difference(a, b)["lost_by_second_only"]
    (-0.25, 2)
    """
    if not bool((first["indices"] == second["indices"]).all()):
        raise SystemExit("the two adversarial sets attack different images: they cannot be paired")
    first_held, second_held = ~first["success"].bool(), ~second["success"].bool()
    n = len(first_held)
    lost_by_first = int((~first_held & second_held).sum())
    lost_by_second = int((first_held & ~second_held).sum())
    difference = (lost_by_first - lost_by_second) / n
    variance = (lost_by_first + lost_by_second - n * difference**2) / (n * (n - 1)) if n > 1 else float("nan")
    return {
        "value": difference,
        "se": math.sqrt(max(variance, 0.0)),
        "p_value": sign_test_p(lost_by_first, lost_by_second),
        "lost_by_first_only": lost_by_first,
        "lost_by_second_only": lost_by_second,
        "n_images": n,
    }


def paired_rows(first: Path, second: Path, comparison: str, dataset: str, cell: str, attack: str) -> list[dict]:
    """One paired_difference row per eps both runs attacked the cell at."""
    sets = {run: run / "results" / dataset / "ae" / cell / "adv" for run in (first, second)}
    found = [{p.name for p in folder.glob(f"{attack}_eps*.pt")} for folder in sets.values()]
    names = sorted(found[0] & found[1])
    if not names:
        raise SystemExit(f"{sets[first]} and {sets[second]} share no {attack} adversarial sets: build them first")
    rows = []
    for name in names:
        pair = [load_adversarial_set(sets[run] / name) for run in (first, second)]
        eps = float(pair[0]["identity"]["eps"])
        base = {"dataset": dataset, "cell": cell, "measure": "paired_difference", "comparison": comparison}
        rows.append(dict(base, attack=attack, eps=eps, **paired_difference(*pair)))
    return rows


def refuse_unlike_seed(cell: str, projection: dict, other: dict, other_run: Path) -> None:
    """Stop unless the other-seed run trained the cell as the projection run did but for the seed."""
    differ = settings_that_differ(projection, other, ignore=("seed",))
    if differ or other.get("seed") == projection.get("seed"):
        shown = ", ".join(differ) or f"the seed, {other.get('seed')}, is the same"
        raise SystemExit(f"{other_run} is no other seed of the projection run for {cell} ({shown})")


def compare(rows: list[dict]) -> list[str]:
    """One line per cell and measure point: the exact run's value beside the projection's."""
    by_key = {}
    for row in rows:
        if row["measure"] == "paired_difference":
            continue
        key = (row["cell"], row["measure"], row.get("attack", ""), row.get("eps", ""), row.get("scale", ""))
        by_key.setdefault(key, {})[row["estimator"]] = row
    lines = []
    for row in rows:
        if row["measure"] == "paired_difference":
            lines.append(
                f"{row['cell']} {row['comparison']} {row['attack']} eps {row['eps']:g}: "
                f"{100 * row['value']:+.1f} +- {196 * row['se']:.1f} points (p = {row['p_value']:.3g})"
            )
    for (cell, measure, attack, eps, scale), pair in sorted(by_key.items(), key=str):
        if not set(ESTIMATORS) <= set(pair):
            continue
        exact, projection = pair["exact"], pair["projection"]
        where = f" {attack} eps {eps:g} scale {scale:g}" if measure == "accuracy" else ""
        line = f"{cell} {measure}{where}: exact {exact['value']:.4g}, projection {projection['value']:.4g}"
        if measure == "accuracy":
            overlap = exact["ci_low"] <= projection["ci_high"] and projection["ci_low"] <= exact["ci_high"]
            line += " (intervals overlap)" if overlap else " (intervals apart)"
        lines.append(line)
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projection", type=Path, required=True, help="the run trained with the projection estimate")
    parser.add_argument("--exact", type=Path, required=True, help="the run trained with the exact penalty")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--cells", nargs="+", default=["ae_d0_stp0.1_a1", "vae_d0_stp0.1_a1"])
    parser.add_argument("--attack", default="cw")
    parser.add_argument(
        "--other-seed",
        type=Path,
        help="the projection run again with another seeds.autoencoder: the seed-to-seed yardstick",
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    rows = []
    for cell in args.cells:
        settings = {}
        for estimator in ESTIMATORS:
            cell_table, settings[estimator] = cell_rows(
                getattr(args, estimator), args.dataset, cell, estimator, args.attack
            )
            rows += cell_table
        refuse_unlike_training(cell, settings)
        rows += paired_rows(args.exact, args.projection, "projection - exact", args.dataset, cell, args.attack)
        if args.other_seed:
            other_table, other_settings = cell_rows(args.other_seed, args.dataset, cell, "projection", args.attack)
            refuse_unlike_seed(cell, settings["projection"], other_settings, args.other_seed)
            rows += [dict(row, estimator=f"projection, seed {other_settings['seed']}") for row in other_table]
            rows += paired_rows(
                args.projection, args.other_seed, "other seed - projection", args.dataset, cell, args.attack
            )
    columns = list(dict.fromkeys(key for row in rows for key in row))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print("\n".join(compare(rows)))


if __name__ == "__main__":
    sys.exit(main())
