"""Tidy result rows: every number with the settings, sample count and seeds that produced it.

Compute jobs only write rows (the csv module); pandas, which costs a compute job a third of
a second to import, is imported by the functions that build tables.
"""

from __future__ import annotations

import csv
import math
import statistics
from typing import TYPE_CHECKING

from aedefense.jobs.io import atomic_path
from aedefense.plan.cells import replicate_name, split_replicate
from aedefense.plan.names import FAIL, PASS, UNDEFENDED, WARN

if TYPE_CHECKING:
    import pandas as pd

CELL_FIELDS = ("family", "denoising", "stp", "alpha")
NOT_ATTACK_SETTINGS = {"name", "method", "eps", "images", "seed", "subset_seed", "defence"}
NOT_AE_SETTINGS = {"in_shape", "seed", *CELL_FIELDS}
NO_ATTACK_METHOD = "none"  # the attack_method of a clean evaluation


def cell_columns(cell: str, autoencoder_settings: dict | None) -> dict:
    if autoencoder_settings is None:  # the undefended classifier
        return {"cell": cell, "family": UNDEFENDED, "denoising": None, "stp": None, "alpha": None}
    columns = {"cell": cell, **{k: autoencoder_settings[k] for k in CELL_FIELDS}}
    columns["denoising"] = int(columns["denoising"])
    columns.update({f"ae_{k}": v for k, v in sorted(autoencoder_settings.items()) if k not in NOT_AE_SETTINGS})
    return columns


def wilson_interval(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (95% by default) of a proportion p measured on n samples:
    here the accuracy on the n attacked images. Unlike p +- z*sqrt(p(1-p)/n) it stays inside
    [0, 1] and is not empty at 0% or 100%.

    >>> [round(bound, 3) for bound in wilson_interval(0.5, 100)]
    [0.404, 0.596]
    >>> wilson_interval(0.0, 100)[1] > 0  # 0 of 100 still leaves room above zero
    True
    """
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_row(
    *,
    dataset,
    cell,
    eps,
    attack_name,
    settings,
    accuracies,
    attack,
    classifier_settings,
    autoencoder_settings,
    defence_columns=None,
) -> dict:
    """One evaluated cell of one training seed (cell may end in _r<replicate>) at one scale:
    `settings` are the evaluation's at that scale, `accuracies` one per latent draw, `attack`
    the adversarial set's record (None for the clean evaluation); defence_columns: a user
    defence's (defences.columns) in place of a cell's; classifier_settings None for a
    defence that is a whole model."""
    cell, replicate = split_replicate(cell)
    described = defence_columns if defence_columns is not None else cell_columns(cell, autoencoder_settings)
    row = {"dataset": dataset, **described, "replicate": replicate}
    row.update(eps=eps, scale=settings["scale"], attack=attack_name)
    attack_settings = attack["settings"] if attack is not None else {}
    row["attack_method"] = attack_settings.get("method", NO_ATTACK_METHOD)
    row.update({f"attack_{k}": v for k, v in sorted(attack_settings.items()) if k not in NOT_ATTACK_SETTINGS})
    classifier_settings = classifier_settings or {"seed": None, "epochs": None}
    row.update(
        seed_classifier=classifier_settings["seed"],
        seed_autoencoder=autoencoder_settings["seed"] if autoencoder_settings else None,
        seed_attack=attack_settings.get("seed"),
        seed_attack_subset=settings.get("subset_seed"),
        seed_evaluation=settings.get("seed"),
        classifier_epochs=classifier_settings["epochs"],
        n_images=settings["images"],
        draws=len(accuracies),
        accuracy_mean=statistics.fmean(accuracies),
        accuracy_std=statistics.pstdev(accuracies) if len(accuracies) > 1 else 0.0,
        accuracy_min=min(accuracies),
        accuracy_max=max(accuracies),
        # the draw error of accuracy_mean, to set beside the Wilson interval's half-width
        accuracy_draw_se=statistics.stdev(accuracies) / len(accuracies) ** 0.5 if len(accuracies) > 1 else 0.0,
        draw_seeds=settings.get("draw_seeds"),
    )
    row["accuracy_ci_low"], row["accuracy_ci_high"] = wilson_interval(row["accuracy_mean"], settings["images"])
    if attack is not None:
        row.update(
            attack_success_rate=float(attack["success"].float().mean()),
            mean_l2=float(attack["l2"].mean()),
            mean_linf=float(attack["linf"].mean()),
            max_linf=float(attack["linf"].max()),
        )
    else:
        row.update(attack_success_rate=None, mean_l2=0.0, mean_linf=0.0, max_linf=0.0)
    return row


def write_rows(rows: list[dict], dest) -> None:
    """Rows with the same keys as one CSV, written as pandas would (empty for None)."""
    with atomic_path(dest) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


ACCURACY_ORDER = ["dataset", "family", "denoising", "stp", "alpha", "cell", "attack", "scale", "eps", "replicate"]
SETTING_COLUMNS = ["dataset", "cell", "attack", "scale", "eps"]


def over_training_seeds(table: pd.DataFrame) -> pd.DataFrame:
    """One row per setting: the mean over training seeds of each seed's accuracy, its spread
    across seeds (std, min, max), and how many seeds. The Wilson interval is the mean's over
    the images of all seeds (n_images * seeds); the seed spread is the models' variation,
    which it does not cover; the draw error is the pooled one of the mean. The other columns
    (settings, per-seed image count) are the first seed's."""
    if "replicate" not in table:
        table = table.assign(replicate=0)
    grouped = table.groupby(SETTING_COLUMNS, sort=False, dropna=False)
    summary = grouped.first().reset_index()
    stats = grouped["accuracy_mean"].agg(["mean", "std", "min", "max", "count"]).reset_index(drop=True)
    summary["accuracy_mean"] = stats["mean"].to_numpy()
    summary["training_seeds"] = stats["count"].to_numpy()
    summary["accuracy_seed_std"] = stats["std"].fillna(0.0).to_numpy()
    summary["accuracy_seed_min"] = stats["min"].to_numpy()
    summary["accuracy_seed_max"] = stats["max"].to_numpy()
    if "accuracy_draw_se" in table:  # the draw error of the mean over seeds: sqrt(sum se^2) / k
        pooled_se = grouped["accuracy_draw_se"].agg(lambda se: float((se.fillna(0.0) ** 2).sum() ** 0.5 / len(se)))
        summary["accuracy_draw_se"] = pooled_se.to_numpy()
    if "sanity_flags" in table:
        flags = grouped["sanity_flags"].agg(
            lambda f: ";".join(sorted({x for v in f.fillna("") for x in v.split(";") if x}))
        )
        summary["sanity_flags"] = flags.to_numpy()
    pooled = [
        wilson_interval(p, n * seeds)
        for p, n, seeds in zip(summary["accuracy_mean"], summary["n_images"], summary["training_seeds"])
    ]
    summary["accuracy_ci_low"], summary["accuracy_ci_high"] = zip(*pooled) if pooled else ([], [])
    return summary.drop(columns=["replicate"])


LATENT_ORDER = ["dataset", "family", "denoising", "stp", "alpha", "cell", "eps"]


def concatenate(paths, order, rows=None) -> pd.DataFrame:
    """Result CSVs as one tidy table, sorted for reading. rows: the (dataset, cell with its
    training seed, attack, eps, scale) to keep; an evaluation file covers all the scales of
    its adversarial set, of which a figure may show fewer."""
    import pandas as pd

    table = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    if rows is not None:
        wanted = {(d, c, a, round(float(e), 9), round(float(s), 9)) for d, c, a, e, s in rows}
        replicates = table["replicate"] if "replicate" in table else [0] * len(table)
        keys = zip(
            table["dataset"],
            [replicate_name(c, int(r)) for c, r in zip(table["cell"], replicates)],
            table["attack"],
            table["eps"].round(9),
            table["scale"].round(9),
        )
        table = table[[key in wanted for key in keys]].reset_index(drop=True)
    return table.sort_values([c for c in order if c in table], na_position="first")


def collect(paths, dest, order) -> pd.DataFrame:
    """Concatenate one-row CSVs into the tidy table at dest."""
    table = concatenate(paths, order)
    write_table(table, dest)
    return table


def write_table(table: pd.DataFrame, dest) -> None:
    with atomic_path(dest) as tmp:
        table.to_csv(tmp, index=False)


def health_summary(path, points) -> str:
    """One sentence for a figure's caption: how many of its (dataset, cell, latent scale)
    points pass every check of the health table at `path` (csv; read without pandas, which
    the Snakefile does not import)."""
    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        return f"Evaluation health: not checked yet; build {path}, then this report again."
    verdicts: dict[tuple, set] = {}
    for row in rows:  # the table's cell is the base name, its training seed in `replicate`
        cell = replicate_name(row["cell"], int(row.get("replicate") or 0))
        verdicts.setdefault((row["dataset"], cell, float(row["scale"])), set()).add(row["verdict"])
    shown = {(dataset, cell, float(scale)) for dataset, cell, scale in points}
    checked = [verdicts[point] for point in shown if point in verdicts]
    failed = sum(FAIL in v for v in checked)
    warned = sum(WARN in v and FAIL not in v for v in checked)
    passed = sum(not v & {FAIL, WARN} and PASS in v for v in checked)
    parts = [f"{passed} of the {len(shown)} (cell, latent scale) points shown pass every check"]
    if warned:
        parts.append(f"{warned} with a warning")
    if failed:
        parts.append(f"{failed} fail at least one (the table's detail column says why)")
    if len(checked) < len(shown):
        parts.append(f"{len(shown) - len(checked)} not checked (outside the health table's grid)")
    return f"Evaluation health ({path}): " + "; ".join(parts) + "."
