"""The exact contractive penalty against its projection estimate, measured on two workflow runs.

    python studies/contractive_estimate.py --projection <run> --exact <run> --out <csv>
        [--dataset mnist] [--cells ae_d0_stp0.1_a1 vae_d0_stp0.1_a1] [--attack cw]

Fig. 4's contractive cells train with `autoencoder.contractive: exact` (the paper's penalty, a
full Jacobian per image) or `projection` (an unbiased random-projection estimate, about 40
times cheaper on a CPU). The two runs hold the same cells, trained the two ways with the same
seeds and epochs, attacked and evaluated by the workflow itself (docs/reproduction.md, "Exact
against projection", gives the commands). This script reads what they wrote and puts it side
by side, one tidy row per (cell, estimator, measure, eps, scale):

- contractive_exact: the exact penalty ||dh/dx||_F^2 the trained encoder has on clean test
  images (metrics.json; the workflow measures it for every contractive cell);
- training_seconds: the training time of the cell (the sum over its epochs);
- accuracy: the defended accuracy under the attack at each eps of the run (clean at eps 0),
  with its Wilson interval and n_images, from the cell's evaluation tables.

It refuses a run whose cell was not trained with the estimator it stands for.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

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


def refuse_unlike_training(cell: str, settings: dict[str, dict]) -> None:
    """Stop unless the cell's two runs (settings by estimator) trained alike but for the
    estimator: epochs, seed and the rest."""
    exact, projection = ({k: v for k, v in settings[e].items() if k not in CONTRACTIVE_ONLY} for e in ESTIMATORS)
    differ = sorted(k for k in exact.keys() | projection.keys() if exact.get(k) != projection.get(k))
    if differ:
        shown = ", ".join(f"{k}: exact {exact.get(k)}, projection {projection.get(k)}" for k in differ)
        raise SystemExit(f"{cell} was trained differently in the two runs ({shown}): train both alike")


def compare(rows: list[dict]) -> list[str]:
    """One line per cell and measure point: the exact run's value beside the projection's."""
    by_key = {}
    for row in rows:
        key = (row["cell"], row["measure"], row.get("attack", ""), row.get("eps", ""), row.get("scale", ""))
        by_key.setdefault(key, {})[row["estimator"]] = row
    lines = []
    for (cell, measure, attack, eps, scale), pair in sorted(by_key.items(), key=str):
        if set(pair) != set(ESTIMATORS):
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
    columns = list(dict.fromkeys(key for row in rows for key in row))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print("\n".join(compare(rows)))


if __name__ == "__main__":
    sys.exit(main())
