"""The estimate against the run: estimate a run as `make paper` does, run it, and print one row
of the estimate-against-measured table (docs/performance.md).

    python benchmarks/estimate_check.py --directory DIR [--cores 2] [--table FILE] -- SNAKEMAKE_ARGS

(config files in SNAKEMAKE_ARGS as absolute paths, or relative to DIR, where both commands run).

In DIR (empty, or a run to resume): the estimate first (`python -m aedefense.cost.estimate`,
kept in DIR/logs/estimate.json), then the run itself (`snakemake --cores N SNAKEMAKE_ARGS`),
then the row: the estimate (its range where the machine was busy), the run's measured time
(its jobs' wall time since the estimate, gaps of Snakemake's scheduling counted, pauses not:
cost.status.against_estimate), Snakemake's own wall time from start to end, their ratio to
the estimate, and the load average before and after. --table appends the row to a CSV file.
Compare on an idle machine: another session's work slows the run and the estimate alike only
in part (docs/performance.md).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = str(ROOT / "workflow" / "scripts")
sys.path.insert(0, SCRIPTS)

from aedefense.cost.projection import hours  # noqa: E402
from aedefense.cost.status import SCHEDULING_GAP_S, busy_seconds, estimate_of_run  # noqa: E402
from aedefense.files.timings import read_job_times  # noqa: E402


def table_row(estimate: dict, jobs: list[dict], run_wall_s: float, load_after: float) -> dict:
    """The table's row for a run: the estimate and what its jobs and Snakemake measured.

    >>> estimate = {"made_at": 100.0, "wall_s": 600.0, "idle_wall_s": 600.0, "cores": 2, "load": 0.2, "share": 0.97}
    >>> jobs = [{"started_at": 110.0, "finished_at": 400.0}, {"started_at": 420.0, "finished_at": 640.0}]
    >>> row = table_row(estimate, jobs, run_wall_s=560.0, load_after=1.9)
    >>> row["measured_s"], row["measured_over_estimate"], row["snakemake_over_estimate"]
    (530.0, 0.883, 0.933)
    """
    measured = busy_seconds([job for job in jobs if job["started_at"] >= estimate["made_at"]], SCHEDULING_GAP_S)
    return {
        "estimated_at": datetime.fromtimestamp(estimate["made_at"]).isoformat(timespec="minutes"),
        "cores": estimate["cores"],
        "estimate_s": round(estimate["wall_s"], 1),
        "estimate_idle_s": round(estimate["idle_wall_s"], 1),
        "measured_s": round(measured, 1),
        "snakemake_wall_s": round(run_wall_s, 1),
        "measured_over_estimate": round(measured / estimate["wall_s"], 3),
        "snakemake_over_estimate": round(run_wall_s / estimate["wall_s"], 3),
        "share_at_estimate": round(estimate.get("share", float("nan")), 2),
        "load_at_estimate": round(estimate.get("load", float("nan")), 1),
        "load_after": round(load_after, 1),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--directory", type=Path, required=True, help="the run's directory (made if missing)")
    parser.add_argument("--cores", type=int, default=2, help="the run's cores (default 2)")
    parser.add_argument("--table", type=Path, help="a CSV file to append the row to")
    parser.add_argument("snakemake_args", nargs="*", help="targets and options of the run, after --")
    args = parser.parse_args(argv)
    args.directory.mkdir(parents=True, exist_ok=True)
    command = ["--cores", str(args.cores), *args.snakemake_args]
    # this checkout's package, installed or not
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [SCRIPTS, os.environ.get("PYTHONPATH")])))
    asked_at = time.time()
    estimate = subprocess.run(
        [sys.executable, "-m", "aedefense.cost.estimate", *command], cwd=args.directory, env=environment
    )
    kept = estimate_of_run(args.directory)
    if estimate.returncode != 0 or kept is None or kept["made_at"] < asked_at:  # none, or an earlier one
        parser.exit(1, "error: the estimate gave no figure (its message is above); nothing was run\n")
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), *command],
        cwd=args.directory,
        env=environment,
    )
    run_wall = time.perf_counter() - start
    if run.returncode != 0:
        parser.exit(1, f"error: the run failed (exit status {run.returncode}); no row\n")
    row = table_row(kept, read_job_times(args.directory), run_wall, os.getloadavg()[0])
    print(
        f"estimate {hours(row['estimate_s'])} (idle end {hours(row['estimate_idle_s'])}); measured "
        f"{hours(row['measured_s'])}, {row['measured_over_estimate']:.2f}x; Snakemake's wall "
        f"{hours(row['snakemake_wall_s'])}, {row['snakemake_over_estimate']:.2f}x; load "
        f"{row['load_at_estimate']} before, {row['load_after']} after"
    )
    if args.table:
        row = {"run": " ".join(args.snakemake_args), **row}
        new = not args.table.exists()
        with open(args.table, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
