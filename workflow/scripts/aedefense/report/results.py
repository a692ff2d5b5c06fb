"""Tidy result rows: every number with the settings, sample count and seeds that produced it.

Compute jobs only write rows (the csv module); pandas, which costs a compute job a third of
a second to import, is imported by the functions that build tables.

Every CSV a rule writes proves its lineage: a job's rows carry `inputs_sha256` (the path and
sha256 of every input file of the job) and `written_as` (the job's output path), a table's
rows `source` and `source_sha256` (the CSV the row came from), and every row its own
checksum in `row_sha256`, the last column. A reader refuses a file with a row edited after
its rule wrote it or a job's CSV under another name than it was written as, and the table
rules refuse a job's CSV whose recorded inputs are not the files on disk now; each is marked
for rebuilding (io.set_aside).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import statistics
from pathlib import Path
from typing import TYPE_CHECKING

from aedefense.files.io import atomic_path, set_aside
from aedefense.files.provenance import lineage_json, row_checksum, sha256_of
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
    # the bounds hold p also where rounding says otherwise (at p = 0, centre - half is ~1e-19)
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


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
    correct_counts=None,
) -> dict:
    """One evaluated cell of one training seed (cell may end in _r<replicate>) at one scale:
    `settings` are the evaluation's at that scale, `accuracies` one per latent draw, `attack`
    the adversarial set's record (None for the clean evaluation); defence_columns: a user
    defence's (defences.columns) in place of a cell's; classifier_settings None for a
    defence that is a whole model; correct_counts: per attacked image, the draws that
    classified it correctly (column images_correct, encode_counts)."""
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
    if correct_counts is not None:
        row[IMAGES_CORRECT] = encode_counts(correct_counts, len(accuracies))
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


LINEAGE = "inputs_sha256"  # a job's input files and their sha256, as JSON
WRITTEN_AS = "written_as"  # the path the job wrote its CSV to
CHECKSUM = "row_sha256"  # the checksum of the row's text (provenance.row_checksum)
SOURCE, SOURCE_SHA256 = "source", "source_sha256"  # the job CSV a table's row came from


def _with_checksums(text: str) -> str:
    """CSV text with each row's checksum appended as the last column (an existing one dropped)."""
    reader = csv.DictReader(io.StringIO(text))
    fields = [f for f in reader.fieldnames or [] if f != CHECKSUM]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*fields, CHECKSUM], lineterminator="\n")
    writer.writeheader()
    for row in reader:
        values = {key: row[key] for key in fields}
        writer.writerow({**values, CHECKSUM: row_checksum(values)})
    return out.getvalue()


def _write_checked_text(text: str, dest) -> None:
    with atomic_path(dest) as tmp, open(tmp, "w", newline="") as handle:
        handle.write(_with_checksums(text))


IMAGES_CORRECT = "images_correct"  # per attacked image, the draws that got it right (encode_counts)


def encode_counts(counts, draws: int) -> str:
    """Per-image counts of correct draws (0 .. draws) as compact text for a CSV cell: base64 of
    one byte per image (two, little-endian, beyond 255 draws), in the attacked images' order.

    >>> encode_counts([1, 0, 1], 1), decode_counts(encode_counts([1, 0, 1], 1), 1).tolist()
    ('AQAB', [1, 0, 1])
    """
    import numpy as np

    dtype = "<u1" if draws < 256 else "<u2"
    return base64.b64encode(np.asarray(counts, dtype=dtype).tobytes()).decode("ascii")


def decode_counts(text: str, draws: int):
    """The per-image counts that encode_counts wrote, as a numpy array."""
    import numpy as np

    return np.frombuffer(base64.b64decode(text), dtype="<u1" if draws < 256 else "<u2").astype(np.int64)


def write_rows(rows: list[dict], dest, inputs=None) -> None:
    """Rows with the same keys as one CSV, written as pandas would (empty for None), each with
    its checksum; inputs: the job's input files, recorded with their sha256 in every row."""
    if inputs is not None:
        lineage = lineage_json(inputs)
        rows = [{**row, LINEAGE: lineage, WRITTEN_AS: str(dest)} for row in rows]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _write_checked_text(text.getvalue(), dest)


def check_csv(path, what: str = "result file", known: dict | None = None, inputs: bool = True) -> None:
    """Refuse (and mark for rebuilding) a CSV a rule wrote whose rows were edited since, or,
    where its rows record their inputs (and `inputs`), whose inputs are no longer the files on
    disk. known: {path: sha256} of files already hashed, shared between calls."""
    known = {} if known is None else known
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        fields = reader.fieldnames or []
    if CHECKSUM not in fields:
        raise set_aside(
            path, what, f"has no {CHECKSUM} column: it was not written by this version of the workflow's rules"
        )
    for number, row in enumerate(rows, start=1):
        values = {key: row[key] for key in fields if key != CHECKSUM}
        if row_checksum(values) != row[CHECKSUM]:
            raise set_aside(path, what, f"was edited after its rule wrote it: row {number} fails its {CHECKSUM}")
        if row.get(WRITTEN_AS) and Path(row[WRITTEN_AS]).resolve() != Path(path).resolve():
            raise set_aside(
                path, what, f"was written as {row[WRITTEN_AS]}, not under this name: it was copied from another job"
            )
    recorded = {}
    for row in rows if inputs else []:
        recorded.update(json.loads(row[LINEAGE]) if row.get(LINEAGE) else {})
    for source, digest in recorded.items():
        if source not in known:
            known[source] = sha256_of(source) if Path(source).is_file() else None
        if known[source] != digest:
            now = "is missing" if known[source] is None else f"now has sha256 {known[source][:12]}..."
            raise set_aside(
                path,
                what,
                f"was computed from {source} with sha256 {digest[:12]}..., and that file {now}: it was replaced "
                "after this file was made (or this file was copied from another run)",
            )


def read_table(path, what: str = "results table", **read_csv):
    """A CSV a rule wrote, checked (check_csv), as a DataFrame without its checksum column;
    read_csv: options for pandas.read_csv."""
    import pandas as pd

    check_csv(path, what, inputs=False)  # a table's inputs were checked by the rule that wrote it
    return pd.read_csv(path, **read_csv).drop(columns=[CHECKSUM])


def edited_tables(folder) -> list[str]:
    """A message for each table in `folder` edited after its rule wrote it, each marked for
    rebuilding: the Snakefile calls this before planning, so the same run rebuilds it (a
    file edited in place is newer than its inputs, and Snakemake would keep it)."""
    from aedefense.files.io import DamagedInput

    messages = []
    for path in sorted(Path(folder).glob("*.csv")):
        try:
            check_csv(path, "results table", inputs=False)
        except DamagedInput as error:
            marked = str(error).split(" It is marked for rebuilding")[0]
            messages.append(f"{marked} It is marked for rebuilding: this run rebuilds it if it is among the targets.")
    return messages


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
    # a summary row stands for several job CSVs: its lineage and per-image results are in the
    # accuracy table's rows
    lineage = [c for c in (LINEAGE, SOURCE, SOURCE_SHA256, IMAGES_CORRECT) if c in summary]
    return summary.drop(columns=["replicate", *lineage])


LATENT_ORDER = ["dataset", "family", "denoising", "stp", "alpha", "cell", "eps"]


def concatenate(paths, order, rows=None) -> pd.DataFrame:
    """Result CSVs as one tidy table, sorted for reading. rows: the (dataset, cell with its
    training seed, attack, eps, scale) to keep; an evaluation file covers all the scales of
    its adversarial set, of which a figure may show fewer."""
    import pandas as pd

    known: dict = {}
    parts = []
    for path in paths:
        check_csv(path, "result file", known)
        part = pd.read_csv(path).drop(columns=[CHECKSUM, WRITTEN_AS], errors="ignore")  # `source` says it
        parts.append(part.assign(**{SOURCE: str(path), SOURCE_SHA256: sha256_of(path)}))
    table = pd.concat(parts, ignore_index=True)
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
    """A table as CSV, each row with its checksum (read it back with read_table)."""
    _write_checked_text(table.drop(columns=[CHECKSUM], errors="ignore").to_csv(index=False), dest)


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


def training_seeds_note(seeds_per_curve) -> str:
    """How many training seeds the curves of a figure or table average: one count when they all
    have the same, nothing when each has one.

    >>> training_seeds_note([3, 3])
    'mean of 3 training seeds'
    >>> training_seeds_note([1, 3, 1])
    'each curve the mean of its 1-3 training seeds'
    >>> training_seeds_note([1, 1])
    ''
    """
    fewest, most = int(min(seeds_per_curve)), int(max(seeds_per_curve))
    if most == 1:
        return ""
    if fewest == most:
        return f"mean of {most} training seeds"
    return f"each curve the mean of its {fewest}-{most} training seeds"
