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

    from aedefense.report.results import training_seeds_note

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
    seeds = table.groupby(keys)["replicate"].nunique() if "replicate" in table else [1]
    note = training_seeds_note(seeds)
    lines = [f"  {path}: accuracy % by eps ({', '.join(map(str, n))} images" + (f", {note}" if note else "") + ")"]
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
    claims = root / CLAIMS_TABLE
    if claims in tables:
        lines.append(f"  {CLAIMS_TABLE}: the claims, judged (docs/claims.md)")
        lines += ["    " + line for line in claim_lines(claims)]
    return "\n".join(lines)


CLAIMS_TABLE = "results/tables/claims.csv"


def claim_lines(path: str | Path) -> list[str]:
    """One line per claim and dataset of a claims.csv: its verdict and its comparisons'."""
    import pandas as pd

    table = pd.read_csv(path)
    claims = table[table["level"] == "claim"]
    return [
        f"{row['dataset']:14} {row['claim']:25} {row['verdict']:13} ({row['by']}) {row['comparison']}"
        for _, row in claims.iterrows()
    ]


def _rst_table(header: list[str], rows: list[list[str]]) -> str:
    """A reStructuredText list-table."""
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines.append("   * - " + str(row[0]))
        lines += [f"     - {cell}" for cell in row[1:]]
    return "\n".join(lines)


def config_label(configfiles: list, root: str | Path) -> str:
    """The config files a run was made with, short, for a figure's footer: 'config.yaml +
    presets/paper-mnist.yaml' (paths inside the workflow `root` relative to it, others by name).

    >>> config_label(["/w/presets/quick.yaml", "/tmp/mine.yaml"], "/w")
    'config.yaml + presets/quick.yaml + mine.yaml'
    """
    names = []
    for path in configfiles:
        path = Path(path).resolve() if not str(path).startswith("/") else Path(path)
        try:
            names.append(str(path.relative_to(root)))
        except ValueError:
            names.append(path.name)
    return " + ".join(["config.yaml", *names])


def run_sentence(config: dict, configfiles: list, overrides: dict) -> str:
    """What was run, in one sentence for every caption of the report: the config files (the
    preset), the command-line settings, n and the attacks."""
    files = ", ".join(f"``{Path(f).name}``" for f in configfiles) or "``config.yaml`` alone"
    settings = ", ".join(f"``{k}={v}``" for k, v in (overrides or {}).items() if k != "mirror")
    n = ", ".join(f"{d} n = {config['data'][d]['attack_images']}" for d in config["datasets"])
    return (
        f"Run with config.yaml and {files}" + (f" and {settings}" if settings else "") + f"; attacked images: {n}; "
        f"the figures' attack ``{config['figure_attack']}``, the reference ``{config['reference_attack']['attack']}``."
    )


def report_landing(config: dict, configfiles: list, overrides: dict, root: str | Path = ".") -> str:
    """The report's opening text (reStructuredText): what was run (config files, command-line
    settings, datasets with their attacked images and eps, training seeds) and the verdicts
    of the run's claims.csv where it has one."""
    rows = [
        [d, str(config["data"][d]["attack_images"]), ", ".join(str(e) for e in config["data"][d]["eps"])]
        for d in config["datasets"]
    ]
    seeds = config["training_seeds"]
    extra = config.get("training_seeds_cells") or {}
    seed_text = f"{seeds} per cell" + (f"; {max(extra.values())} for {len(extra)} declared cells" if extra else "")
    parts = [
        "Autoencoder defences against adversarial examples",
        "=" * 50,
        "",
        run_sentence(config, configfiles, overrides) + f" Training seeds: {seed_text}.",
        "",
        _rst_table(["dataset", "attacked images (n)", "eps"], rows),
        "",
        "The claims, judged",
        "-" * 18,
        "",
    ]
    claims = Path(root) / CLAIMS_TABLE
    if not claims.exists():
        parts.append(f"Not judged in this directory yet: build ``{CLAIMS_TABLE}``.")
        return "\n".join(parts)
    import pandas as pd

    table = pd.read_csv(claims)
    lines = table[table["level"] == "claim"]
    parts += [
        f"From ``{CLAIMS_TABLE}`` (category Claims), by the decision rule of docs/claims.md: per claim "
        "and dataset, the verdict and how many comparisons gave each.",
        "",
        _rst_table(
            ["claim", "by", "dataset", "verdict", "comparisons"],
            [[r["claim"], r["by"], r["dataset"], f"**{r['verdict']}**", r["comparison"]] for _, r in lines.iterrows()],
        ),
    ]
    return "\n".join(parts)


def print_run_summary(since: float, root: str | Path = ".", stream=None) -> None:
    try:
        text = run_summary(since, root)
    except Exception as error:  # a summary must never turn a finished run into a failed one
        text = f"(no summary: {type(error).__name__}: {error})"
    if text:
        print(text, file=stream or sys.stderr, flush=True)
