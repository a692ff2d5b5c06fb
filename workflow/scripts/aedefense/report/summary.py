"""What a finished run built, in the terminal: the figures and tables it wrote, and each
accuracy table as a small grid of accuracy (%) by curve and eps, so that the result is read
where the command was typed, not only in a 40-column CSV.

The Snakefile calls `print_run_summary` when a run succeeds (`onsuccess`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

MAX_CURVES = 12  # per table; the rest is in the file


def written_since(folder: str | Path, since: float, pattern: str) -> list[Path]:
    return sorted(p for p in Path(folder).glob(pattern) if p.stat().st_mtime >= since)


def accuracy_grid(path: str | Path, shown_as: str | None = None) -> str:
    """An accuracy table as text: one line per curve (dataset, cell, attack, latent scale),
    accuracy in % at each eps, the mean over training seeds where there are several;
    shown_as: the name the text gives the table (its path)."""
    import pandas as pd

    table = pd.read_csv(path)
    path = shown_as or path
    if table.empty or not {"cell", "eps", "accuracy_mean"} <= set(table):
        return f"  {path}: no accuracy rows"
    keys = [k for k in ("dataset", "cell", "attack", "scale") if k in table]
    clean = table[table["attack"] == "clean"]
    attacked = table[table["attack"] != "clean"]
    grid = attacked.pivot_table(index=keys, columns="eps", values="accuracy_mean", aggfunc="mean") * 100
    if len(clean) and len(grid):  # the clean accuracy of each curve's cell, as a first column
        by_cell = clean.groupby([k for k in keys if k != "attack"])["accuracy_mean"].mean() * 100
        grid.insert(0, "clean", [by_cell.get(tuple(k for k, n in zip(i, keys) if n != "attack")) for i in grid.index])
    n = sorted(set(table["n_images"])) if "n_images" in table else []
    seeds = table["replicate"].nunique() if "replicate" in table else 1
    lines = [
        f"  {path}: accuracy % by eps ({', '.join(map(str, n))} images"
        + (f", mean of {seeds} training seeds" if seeds > 1 else "")
        + ")"
    ]
    text = grid.head(MAX_CURVES).to_string(float_format=lambda v: f"{v:5.1f}")
    lines += ["    " + line for line in text.splitlines()]
    if len(grid) > MAX_CURVES:
        lines.append(f"    ... {len(grid) - MAX_CURVES} more curves in {path}")
    return "\n".join(lines)


def run_summary(since: float, root: str | Path = ".") -> str:
    """The summary of what was written under `root`/results since the time `since`."""
    root = Path(root)
    figures = written_since(root / "results" / "figures", since, "*.pdf")
    tables = written_since(root / "results" / "tables", since, "*.csv")
    if not figures and not tables:
        return ""
    lines = ["", "Built in this run:"]
    lines += [f"  figure {os.path.relpath(p, root)} (and .png)" for p in figures]
    accuracy = [p for p in tables if p.name.startswith("accuracy") and "summary" not in p.name]
    lines += [f"  table  {os.path.relpath(p, root)}" for p in tables if p not in accuracy]
    for path in accuracy:
        lines.append(accuracy_grid(path, os.path.relpath(path, root)))
    return "\n".join(lines)


def print_run_summary(since: float, root: str | Path = ".", stream=None) -> None:
    try:
        text = run_summary(since, root)
    except Exception as error:  # a summary must never turn a finished run into a failed one
        text = f"(no summary: {type(error).__name__}: {error})"
    if text:
        print(text, file=stream or sys.stderr, flush=True)
