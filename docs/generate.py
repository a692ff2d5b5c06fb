"""The docs' generated parts, from the committed claims tables: the README's claims table and
the verdict tables of docs/reproduction.md.

    python docs/generate.py          # rewrite them
    python docs/generate.py --check  # exit 1 if they differ from what the tables give

`make docs` runs the first; tests/test_docs.py the second.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from aedefense.report.claims import comparisons_table, load_claims, markdown_table, replace_block

ROOT = Path(__file__).resolve().parents[1]
REPRODUCTION = ROOT / "docs" / "reproduction"
# The README's columns: a label (what was run) -> its claims.csv.
README_COLUMNS = {
    "the quick preset (100 images, eps 0.1-0.3, one training)": REPRODUCTION / "quick" / "claims.csv",
    "the paper's protocol on MNIST (1,000 images, six eps, one run)": REPRODUCTION / "paper-mnist" / "claims.csv",
    "the protocol on Fashion-MNIST (1,000 images, six eps, one run; so far Figs. 1, 3 and 5)": REPRODUCTION
    / "paper-fashion-mnist"
    / "claims.csv",
}
# docs/reproduction.md's verdict tables: a block name -> its claims.csv.
REPRODUCTION_BLOCKS = {
    "protocol-mnist": REPRODUCTION / "paper-mnist" / "claims.csv",
    "quick": REPRODUCTION / "quick" / "claims.csv",
    "protocol-fashion-mnist": REPRODUCTION / "paper-fashion-mnist" / "claims.csv",
}


def markers(name: str) -> tuple[str, str]:
    return (
        f"<!-- generated: {name}, by python docs/generate.py from the claims tables; do not edit -->",
        f"<!-- end of generated: {name} -->",
    )


def generated() -> dict[Path, str]:
    """Each generated file's text as the tables give it."""
    claims = load_claims(ROOT / "workflow" / "claims.yaml")
    tables = {label: pd.read_csv(path) for label, path in README_COLUMNS.items()}
    readme = ROOT / "README.md"
    texts = {readme: replace_block(readme.read_text(), *markers("claims"), markdown_table(tables, claims), "README.md")}
    reproduction = ROOT / "docs" / "reproduction.md"
    text = reproduction.read_text()
    for name, path in REPRODUCTION_BLOCKS.items():
        text = replace_block(text, *markers(name), comparisons_table(pd.read_csv(path)), "docs/reproduction.md")
    texts[reproduction] = text
    return texts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that the docs hold what the tables give")
    args = parser.parse_args(argv)
    stale = [path for path, text in generated().items() if path.read_text() != text]
    if args.check:
        for path in stale:
            print(
                f"{path.relative_to(ROOT)} differs from its claims tables: run python docs/generate.py", file=sys.stderr
            )
        return 1 if stale else 0
    for path, text in generated().items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
