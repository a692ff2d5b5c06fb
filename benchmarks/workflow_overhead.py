"""Workflow overhead: how long Snakemake takes to plan the full paper grid, how many jobs it has,
and what the quick preset cost end to end (from the benchmark files of a finished run).

    python benchmarks/workflow_overhead.py [--configfile presets/quick.yaml]

The planning time is a dry run (`snakemake -n`) of the whole config.yaml grid in an empty
directory: the DAG, config validation and every job's params, nothing executed. The preset's
cost is summed over the `benchmark:` files of its jobs in this checkout (wall seconds and CPU
seconds as psutil saw them); jobs without one (downloads, tables, figures) take seconds.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--cores", "8"]


def dry_run(*args, directory: Path) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run([*SNAKEMAKE, "-n", *args, "-d", str(directory)], capture_output=True, text=True, check=True)
    return time.perf_counter() - start, result.stdout


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--configfile",
        default=str(ROOT / "presets" / "quick.yaml"),
        help="the config laid over config.yaml whose plan is timed (default presets/quick.yaml)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as empty:
        seconds, plan = dry_run(directory=Path(empty))
    jobs = int(re.search(r"^total\s+(\d+)", plan, flags=re.MULTILINE)[1])
    print(f"full paper grid: snakemake -n plans {jobs} jobs in {seconds:.1f} s")

    # Every job of the preset, as if nothing existed (-F), with its benchmark file.
    _, plan = dry_run("-F", "--configfile", args.configfile, directory=ROOT)
    per_rule = defaultdict(lambda: {"jobs": 0, "missing": 0, "wall_s": 0.0, "cpu_s": 0.0})
    rule = None
    for line in plan.splitlines():
        header = re.match(r"^(?:local)?rule (\w+):$", line)
        if header:
            rule = header[1]
        found = re.match(r"^\s+benchmark: (\S+)$", line)
        if not (rule and found):
            continue
        row = per_rule[rule]
        row["jobs"] += 1
        path = ROOT / found[1]
        if not path.exists():
            row["missing"] += 1
            continue
        measured = pd.read_csv(path, sep="\t").iloc[-1]
        row["wall_s"] += float(measured["s"])
        row["cpu_s"] += float(measured["cpu_time"])
    table = pd.DataFrame.from_dict(per_rule, orient="index")
    if table.empty or (table["missing"] == table["jobs"]).all():
        print(f"{args.configfile}: no finished run in this checkout; run it first, then this again")
        return
    table.loc["total"] = table.sum()
    table["wall_min"] = (table["wall_s"] / 60).round(1)
    table["cpu_min"] = (table["cpu_s"] / 60).round(1)
    print(f"\n{Path(args.configfile).name}: cost of its jobs (benchmark files; missing = not run yet)")
    print(table[["jobs", "missing", "wall_min", "cpu_min"]].to_string())


if __name__ == "__main__":
    main()
