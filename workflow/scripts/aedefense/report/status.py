"""Where a run stands, running or stopped: `make status` (in the run's directory).

    python -m aedefense.report.status [--directory DIR] [--cores N]

The jobs done are those that wrote their timing (logs/**/*.timing.json); the jobs left come
from a dry run with the run's own options (logs/run_settings.json, which every run
records), without taking the directory's lock, so it answers while a run goes. The time left
is each rule's mean wall time in this run times its jobs left, at `--cores` jobs at once;
rules that have not run here yet are named, not guessed.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path

from aedefense.files.timings import read_timing_records
from aedefense.report.build import RUN_SETTINGS, command_line


def finished_jobs(directory: Path) -> list[dict]:
    """The timing record of every job that finished in the run."""
    return [record for _, record in read_timing_records(directory)]


def jobs_left(dry_run_output: str) -> Counter:
    """Jobs per rule of a dry run's job stats table (empty when nothing is left).

    >>> jobs_left("Job stats:\\njob  count\\n----  ---\\nattack  3\\nevaluate  2\\ntotal  5\\n")
    Counter({'attack': 3, 'evaluate': 2})
    """
    counts = Counter()
    table = dry_run_output.split("Job stats:", 1)
    if len(table) < 2:
        return counts
    for line in table[1].splitlines()[3:]:
        match = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not match or match[1] == "total":
            break
        counts[match[1]] = int(match[2])
    return counts


def time_left(left: Counter, done: list[dict], cores: int) -> tuple[float, list[str]]:
    """(seconds, rules without a measured job) at this run's mean wall time per rule."""
    walls: dict[str, list[float]] = {}
    for record in done:
        walls.setdefault(record["rule"], []).append(record["finished_at"] - record["started_at"])
    seconds, unmeasured = 0.0, []
    for rule, count in left.items():
        if rule == "all":
            continue
        if rule in walls:
            seconds += count * sum(walls[rule]) / len(walls[rule])
        else:
            unmeasured.append(rule)
    return seconds / max(1, cores), unmeasured


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def status(directory: Path, cores: int, snakefile: str | None = None) -> str:
    settings_path = directory / RUN_SETTINGS
    if not settings_path.exists():
        raise FileNotFoundError(f"no run was recorded in {directory} ({settings_path} is missing): start one first")
    options = json.loads(settings_path.read_text())
    done = finished_jobs(directory)
    command = [sys.executable, "-m", "snakemake", "--dry-run", "--nolock", "--directory", str(directory)]
    snakefile = snakefile or options.get("snakefile")
    command += ["--snakefile", snakefile] if snakefile else []
    command += options.get("targets", [])  # before the options that take every word after them
    if options.get("rerun_triggers"):
        command += ["--rerun-triggers", *options["rerun_triggers"]]
    command += shlex.split(command_line(options))
    dry = subprocess.run(command, capture_output=True, text=True)
    if dry.returncode != 0:
        tail = "\n".join((dry.stdout + dry.stderr).strip().splitlines()[-5:])
        raise RuntimeError(f"the dry run with the run's options failed:\n{tail}")
    left = jobs_left(dry.stdout)
    lines = [f"Run in {directory.resolve()}", f"  options: {command_line(options) or '(config.yaml alone)'}"]
    job_time = sum(r["finished_at"] - r["started_at"] for r in done)
    lines.append(f"  done: {len(done)} jobs, {_hours(job_time)} of job time")
    locks = (
        list((directory / ".snakemake" / "locks").glob("*")) if (directory / ".snakemake" / "locks").is_dir() else []
    )
    if locks:
        lines.append("  a run holds this directory (running now, or stopped without unlocking: snakemake --unlock)")
    if not left:
        lines.append("  left: nothing; every target of these options is built")
        return "\n".join(lines)
    total = sum(n for rule, n in left.items() if rule != "all")
    by_rule = ", ".join(f"{rule} {n}" for rule, n in left.most_common() if rule != "all")
    lines.append(f"  left: {total} jobs ({by_rule})")
    seconds, unmeasured = time_left(left, done, cores)
    estimate = f"  time left: about {_hours(seconds)} at {cores} jobs at once, at this run's mean time per rule"
    if unmeasured:
        estimate += f"; not counted (no job of theirs ran here yet): {', '.join(unmeasured)}"
    lines.append(estimate)
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--directory", "-d", type=Path, default=Path("."), help="the run's directory (default: here)")
    parser.add_argument("--cores", type=int, default=2, help="jobs at once for the time left (default 2)")
    parser.add_argument("--snakefile", "-s", help="the run's Snakefile where it is not the directory's")
    args = parser.parse_args(argv)
    try:
        print(status(args.directory, args.cores, args.snakefile))
    except (FileNotFoundError, RuntimeError) as error:
        parser.exit(2, f"error: {error}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
