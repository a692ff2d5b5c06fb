"""How much accuracy moves between trainings with other seeds: a measurement on an accuracy
table of a run with `training_seeds` > 1 (e.g. presets/training-seeds.yaml), not a workflow rule.

    python studies/seed_spread.py <accuracy table csv> [--out <csv>]

What it computes is aedefense.report.seeds's (the claims rule weighs the same spread): per
curve point with two or more training seeds, the seeds' mean, std, smallest and largest
accuracy beside one seed's image-sampling error; per kind of model, the pooled seed std over
the attacked points.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from aedefense.report.seeds import pooled, seed_spread


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
