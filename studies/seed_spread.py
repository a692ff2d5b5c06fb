"""How much accuracy moves between trainings with other seeds: a measurement on an accuracy
table of a run with `training_seeds` > 1 (e.g. presets/training-seeds.yaml), not a workflow rule.

    python studies/seed_spread.py <accuracy table csv> [--out <csv>]

For each curve point (dataset, cell, attack, latent scale, eps) with two or more training
seeds (column `replicate`): the mean accuracy over the seeds, their standard deviation, the
smallest and largest, and the image-sampling standard error of one seed's accuracy
(sqrt(p (1 - p) / n), n the attacked images), to set beside it. Then, per kind of model (the
undefended classifier, a deterministic autoencoder cell, a sampling one at scale > 0), the
pooled seed standard deviation over the attacked points (eps > 0): the root of the mean
variance, the figure that a comparison of two cells' curves weighs beside the images.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

POINT = ["dataset", "cell", "attack", "scale", "eps"]


def kind_of(row) -> str:
    if row["family"] == "none":
        return "undefended"
    if row["family"] == "vae" and float(row["scale"]) > 0:
        return "sampling autoencoder"
    return "deterministic autoencoder"


def seed_spread(table: pd.DataFrame) -> pd.DataFrame:
    """One row per curve point with two or more training seeds."""
    grouped = table.groupby(POINT, sort=True, dropna=False)
    rows = []
    for key, group in grouped:
        if group["replicate"].nunique() < 2:
            continue
        accuracy = group["accuracy_mean"]
        n = int(group["n_images"].iloc[0])
        p = float(accuracy.mean())
        rows.append(
            {
                **dict(zip(POINT, key)),
                "kind": kind_of(group.iloc[0]),
                "training_seeds": int(group["replicate"].nunique()),
                "n_images": n,
                "accuracy_mean": p,
                "accuracy_seed_std": float(accuracy.std(ddof=1)),
                "accuracy_seed_min": float(accuracy.min()),
                "accuracy_seed_max": float(accuracy.max()),
                "image_se": math.sqrt(p * (1 - p) / n),
            }
        )
    return pd.DataFrame(rows)


def pooled(spread: pd.DataFrame) -> pd.DataFrame:
    """Per kind of model: the pooled seed standard deviation over the attacked points."""
    attacked = spread[spread["eps"] > 0]
    return (
        attacked.groupby("kind")
        .agg(
            points=("accuracy_seed_std", "size"),
            pooled_seed_std=("accuracy_seed_std", lambda s: math.sqrt(float((s**2).mean()))),
            largest_seed_std=("accuracy_seed_std", "max"),
            mean_image_se=("image_se", "mean"),
        )
        .reset_index()
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("table", type=Path, help="an accuracy table (results/tables/accuracy_<figure>.csv)")
    parser.add_argument("--out", type=Path, help="write the per-point spread here (csv)")
    args = parser.parse_args(argv)
    table = pd.read_csv(args.table)
    if "replicate" not in table or table["replicate"].nunique() < 2:
        print(f"{args.table}: one training seed only; run with training_seeds >= 2", file=sys.stderr)
        return 2
    spread = seed_spread(table)
    if args.out:
        spread.to_csv(args.out, index=False)
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        print(pooled(spread).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
