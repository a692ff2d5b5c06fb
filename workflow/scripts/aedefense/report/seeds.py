"""How much accuracy moves between trainings with other seeds (config `training_seeds`).

For each curve point (dataset, cell, attack, latent scale, eps) with two or more training
seeds (column `replicate`): the mean accuracy over the seeds, their standard deviation, the
smallest and largest, and the image-sampling standard error of one seed's accuracy
(sqrt(p (1 - p) / n), n the attacked images), to set beside it. Then, per kind of model (the
undefended classifier, a deterministic autoencoder cell, a sampling one at scale > 0), the
pooled seed standard deviation over the attacked points (eps > 0): the root of the mean
variance, the figure that a comparison of two cells' curves weighs beside the images.
"""

from __future__ import annotations

import math

import pandas as pd

from aedefense.plan.cells import is_stochastic
from aedefense.plan.families import FAMILIES

POINT = ["dataset", "cell", "attack", "scale", "eps"]
UNDEFENDED_KIND = "undefended"
SAMPLING_KIND = "sampling autoencoder"
DETERMINISTIC_KIND = "deterministic autoencoder"


def kind_of(family: str, scale: float) -> str:
    """The kind of model whose seed spread a curve shares."""
    if family == "none":
        return UNDEFENDED_KIND
    if family in FAMILIES and is_stochastic(family, float(scale)):
        return SAMPLING_KIND
    return DETERMINISTIC_KIND


def seed_spread(table: pd.DataFrame) -> pd.DataFrame:
    """One row per curve point with two or more training seeds."""
    rows = []
    for key, group in table.groupby(POINT, sort=True, dropna=False):
        if group["replicate"].nunique() < 2:
            continue
        accuracy = group["accuracy_mean"]
        n = int(group["n_images"].iloc[0])
        p = float(accuracy.mean())
        rows.append(
            {
                **dict(zip(POINT, key)),
                "kind": kind_of(group["family"].iloc[0], group["scale"].iloc[0]),
                "training_seeds": int(group["replicate"].nunique()),
                "n_images": n,
                "accuracy_mean": p,
                "accuracy_seed_std": float(accuracy.std(ddof=1)),
                "accuracy_seed_min": float(accuracy.min()),
                "accuracy_seed_max": float(accuracy.max()),
                "image_se": math.sqrt(p * (1 - p) / n),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            *POINT,
            "kind",
            "training_seeds",
            "n_images",
            "accuracy_mean",
            "accuracy_seed_std",
            "accuracy_seed_min",
            "accuracy_seed_max",
            "image_se",
        ],
    )


def root_mean_square(values) -> float:
    return math.sqrt(float((pd.Series(values, dtype=float) ** 2).mean()))


def pooled(spread: pd.DataFrame) -> pd.DataFrame:
    """Per kind of model: the pooled seed standard deviation over the attacked points."""
    attacked = spread[spread["eps"] > 0]
    return (
        attacked.groupby("kind")
        .agg(
            points=("accuracy_seed_std", "size"),
            pooled_seed_std=("accuracy_seed_std", root_mean_square),
            largest_seed_std=("accuracy_seed_std", "max"),
            mean_image_se=("image_se", "mean"),
        )
        .reset_index()
    )
