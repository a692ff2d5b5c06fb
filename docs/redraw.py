"""Redraw the committed figures (PNG) of docs/reproduction/ from the committed tables, with the
figure code of this checkout: what the figure rules do, for runs whose directories are gone.
Plotting reads only tables, so a redrawn figure shows the same numbers.

    python docs/redraw.py quick          # docs/reproduction/quick/*.png
    python docs/redraw.py paper-mnist    # docs/reproduction/paper-mnist/fig*.png
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

from aedefense.cost.projection import load_config
from aedefense.plan.params import accuracy_figure_settings, figure_style
from aedefense.report.figures import accuracy_figure, defences_figure, latent_figure

ROOT = Path(__file__).resolve().parents[1]
REPRODUCTION = ROOT / "docs" / "reproduction"
# Each committed run: its config files (relative to the workflow), and per accuracy figure
# the table it is drawn from.
RUNS = {
    "quick": {
        "configfiles": ["presets/quick.yaml"],
        "figures": {f"fig{n}": "accuracy.csv" for n in range(1, 5)} | {"suite": "accuracy_suite.csv"},
        "defences": ["docs/reproduction/quick/defences.yaml"],
    },
    "paper-mnist": {  # the protocol in one run directory, with training seeds
        "configfiles": ["presets/paper-mnist.yaml", "presets/no-longer-attack.yaml"],
        "figures": {f"fig{n}": f"accuracy_fig{n}.csv" for n in range(1, 5)},
        "defences": None,
    },
    "paper-mnist-by-figure": {  # the earlier protocol runs, one run directory per figure
        "configfiles": ["presets/paper-mnist.yaml"],
        "figures": {f"fig{n}": f"accuracy_fig{n}.csv" for n in range(1, 5)},
        "defences": None,
    },
    "paper-fashion-mnist": {  # the protocol on Fashion-MNIST in one run directory, figure by figure
        "configfiles": ["presets/paper-fashion-mnist.yaml"],
        "figures": {f"fig{n}": f"accuracy_fig{n}.csv" for n in range(1, 5)},
        "defences": None,
        "in_progress": True,  # figures whose table has not landed yet are skipped, and named
    },
}


def redraw(run: str) -> list[Path]:
    spec, folder = RUNS[run], REPRODUCTION / run
    configfiles = [ROOT / f for f in spec["configfiles"]] + [ROOT / f for f in spec["defences"] or []]
    config = load_config(configfiles)
    label = " + ".join(["config.yaml", *spec["configfiles"]])
    drawn = []
    with tempfile.TemporaryDirectory() as scratch:
        for figure, table_name in spec["figures"].items():
            if spec.get("in_progress") and not (folder / table_name).exists():
                print(f"{run}: {figure} not landed yet ({table_name} is not in {folder})", file=sys.stderr)
                continue
            settings = accuracy_figure_settings(config, figure)
            png = folder / f"{figure}.png"
            accuracy_figure(
                pd.read_csv(folder / table_name),
                name=figure,
                layouts=settings["layouts"],
                grids=settings["grids"],
                attacks=settings["attacks"],
                datasets=settings["datasets"],
                style=settings["style"],
                pdf=Path(scratch) / f"{figure}.pdf",
                png=png,
                run=label,
            )
            drawn.append(png)
        if (folder / "latent.csv").exists():
            latent_figure(
                pd.read_csv(folder / "latent.csv"),
                datasets=list(config["datasets"]),
                style=figure_style(config, "fig5"),
                pdf=Path(scratch) / "fig5.pdf",
                png=folder / "fig5.png",
                run=label,
            )
            drawn.append(folder / "fig5.png")
        if spec["defences"]:
            health = pd.read_csv(folder / "health_defences.csv", keep_default_na=False)
            health["scale"] = health["scale"].astype(float)
            entries = yaml.safe_load((ROOT / spec["defences"][0]).read_text())["defences"]
            defences_figure(
                pd.read_csv(folder / "accuracy_defences.csv"),
                health,
                attack=config["defence_comparison"]["attack"],
                datasets=sorted(set(health["dataset"])),
                style=figure_style(config, "defences"),
                pdf=Path(scratch) / "defences.pdf",
                png=folder / "defences.png",
                run=" + ".join([label, *(Path(f).name for f in spec["defences"])]),
                labels={name: e["label"] for name, e in entries.items() if e.get("label")},
            )
            drawn.append(folder / "defences.png")
    return drawn


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", choices=sorted(RUNS), help="the committed runs to redraw")
    args = parser.parse_args(argv)
    for run in args.runs:
        for path in redraw(run):
            print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
