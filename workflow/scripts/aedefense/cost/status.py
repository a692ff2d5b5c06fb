"""Where a run stands, running or stopped: `make status` (in the run's directory).

    python -m aedefense.cost.status [--directory DIR] [--cores N]

The jobs done are those that wrote their timing (logs/**/*.timing.json); the jobs left come
from a dry run with the run's own options (logs/run_settings.json, which every run records),
without taking the directory's lock, so it answers while a run goes. The time left is the
rate model's (cost.rates, as `make profile` projects): each job left has a kind of work
(rule, attack method or training penalty, image shape, batch) and an amount of it from the
run's own config; its time is the work over the rate this run measured for that kind (the
closest kind of its rule where none of its own ran yet, said so), plus the rule's overhead per
job, at `--cores` cores shared as the run's threads per rule share them. Rules that have no
finished job here are named, not guessed.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

from aedefense.cost.estimate import training_images_found
from aedefense.cost.projection import ESTIMATE_RECORD, PlanError, config_of_run, counted, hours, planned_jobs
from aedefense.cost.rates import planned_kinds, project, rates_of_run, spread_over_cores
from aedefense.files.timings import read_job_times
from aedefense.report.build import RUN_SETTINGS, command_line, recorded_run


def dry_run_arguments(options: dict) -> list[str]:
    """The snakemake arguments that plan what is left of a recorded run, without its lock.

    >>> dry_run_arguments({"targets": ["results/figures/fig3.pdf"], "rerun_triggers": ["mtime"],
    ...                    "configfiles": [{"path": "presets/quick.yaml"}], "config": {}})
    ['--nolock', 'results/figures/fig3.pdf', '--rerun-triggers', 'mtime', '--configfile', 'presets/quick.yaml']
    """
    arguments = ["--nolock", *options.get("targets", [])]  # targets before the options that take every word after them
    if options.get("rerun_triggers"):
        arguments += ["--rerun-triggers", *options["rerun_triggers"]]
    return arguments + shlex.split(command_line(options))


def time_left(config: dict, left: list[tuple[str, dict]], done: list[dict], cores: int, directory: Path = Path(".")):
    """(seconds, jobs at a stand-in rate, kinds not counted) of the `left` jobs ((rule,
    wildcards) pairs) at the rates of the `done` ones (timing records with wall_s)."""
    model = rates_of_run(done, config)
    projected, missing = project(model, planned_kinds(config, left, training_images_found(config, directory)))
    seconds = spread_over_cores(projected, config, cores)
    stood_in = sum(row["jobs"] for row in projected if row["measured_on"])
    return seconds, stood_in, missing


def busy_seconds(jobs: list[dict], gap_s: float = 0.0) -> float:
    """The time during which at least one of the jobs (timing records) ran: the union of
    their intervals, so that pauses between parts of a run do not count; a gap between jobs
    of up to `gap_s` counts as run time (Snakemake starting the next job).

    >>> busy_seconds([{"started_at": 0, "finished_at": 10}, {"started_at": 5, "finished_at": 12},
    ...               {"started_at": 100, "finished_at": 101}])
    13.0
    >>> busy_seconds([{"started_at": 0, "finished_at": 10}, {"started_at": 15, "finished_at": 20}], gap_s=30)
    20.0
    """
    busy, busy_until = 0.0, float("-inf")
    for start, finish in sorted((j["started_at"], j["finished_at"]) for j in jobs):
        if finish > busy_until:
            start = busy_until if 0 < start - busy_until <= gap_s else start
            busy += finish - max(start, busy_until)
            busy_until = finish
    return busy


# Between two jobs of a run a gap this long or shorter is Snakemake at work (choosing and
# starting the next job), and counts as the run's time; a longer one is a pause.
SCHEDULING_GAP_S = 120.0


def same_run(estimate: dict, options: dict) -> bool:
    """Whether an estimate was made for the run of these recorded options: its targets,
    config files and --config values."""
    paths = [entry["path"] for entry in options.get("configfiles", [])]
    return (
        sorted(estimate.get("targets", [])) == sorted(options.get("targets", []))
        and [entry["path"] for entry in estimate["options"]["configfiles"]] == paths
        and estimate["options"]["config"] == options.get("config", {})
    )


def estimate_of_run(directory: Path, options: dict | None = None) -> dict | None:
    """The estimate kept in `directory` (logs/estimate.json), where it is readable, states a
    time, and was made for the run of `options` (same_run; None: any run); else None."""
    try:
        estimate = json.loads((Path(directory) / ESTIMATE_RECORD).read_text())
        usable = estimate["wall_s"] > 0 and estimate["made_at"] > 0 and estimate["cores"] >= 1
        if usable and (options is None or same_run(estimate, options)):
            return estimate
    except (OSError, ValueError, KeyError, TypeError):  # absent, or not one the estimate wrote
        pass
    return None


def against_estimate(estimate: dict, done: list[dict], left_s: float | None = 0.0) -> str:
    """The run's time set against the estimate made before it (estimate_of_run): the wall time
    its jobs have run since the estimate (busy_seconds) plus `left_s`, the time left on the
    estimate's cores (None: jobs left whose time is not known), over the estimate."""
    ran = busy_seconds([record for record in done if record["started_at"] >= estimate["made_at"]], SCHEDULING_GAP_S)
    made = datetime.fromtimestamp(estimate["made_at"]).strftime("%Y-%m-%d %H:%M")
    said = hours(estimate["wall_s"])
    if estimate.get("idle_wall_s", estimate["wall_s"]) < estimate["wall_s"]:
        said = f"{hours(estimate['idle_wall_s'])} to {said} (the machine was busy)"
    head = f"estimated at {made} ({counted(estimate['cores'], 'core')}): {said}; measured: {hours(ran)} of jobs since"
    if left_s is None:
        return f"{head}, and jobs left that cannot be timed yet"
    left = f" + about {hours(left_s)} left" if left_s else ""
    return f"{head}{left}, {(ran + left_s) / estimate['wall_s']:.2f}x the estimate"


def status(directory: Path, cores: int, snakefile: str | None = None) -> str:
    options = recorded_run(directory)
    if options is None:
        raise FileNotFoundError(
            f"no run was recorded in {directory} ({directory / RUN_SETTINGS} is missing): start one first"
        )
    config = config_of_run(directory)
    if config is None:
        raise FileNotFoundError(f"the config files the run in {directory} recorded are gone: {command_line(options)}")
    done = read_job_times(directory)
    try:
        left = planned_jobs(dry_run_arguments(options), str(directory), snakefile or options.get("snakefile"))
    except PlanError as error:
        raise RuntimeError(f"the dry run with the run's options failed:\n{error}") from None
    left = [(rule, wildcards) for rule, wildcards in left if rule != "all"]
    lines = [f"Run in {directory.resolve()}", f"  options: {command_line(options) or '(config.yaml alone)'}"]
    job_time = sum(record["wall_s"] for record in done)
    lines.append(f"  done: {counted(len(done), 'job')}, {hours(job_time)} of job time")
    locks = directory / ".snakemake" / "locks"
    if locks.is_dir() and any(locks.iterdir()):
        lines.append("  a run holds this directory (running now, or stopped without unlocking: snakemake --unlock)")
    estimate = estimate_of_run(directory, options)
    if not left:
        lines.append("  left: nothing; every target of these options is built")
        if estimate:
            lines.append(f"  {against_estimate(estimate, done, 0.0)}")
        return "\n".join(lines)
    by_rule = ", ".join(f"{rule} {n}" for rule, n in Counter(rule for rule, _ in left).most_common())
    lines.append(f"  left: {counted(len(left), 'job')} ({by_rule})")
    seconds, stood_in, missing = time_left(config, left, done, cores, directory)
    if not seconds:  # no job left has a rate measured here
        lines.append(
            "  time left: not known until a job of each rule has finished here; before that, the estimate "
            f"measures this machine: python -m aedefense.cost.estimate --cores {cores} "
            + shlex.join(options.get("targets", []))
            + f" {command_line(options)}"
        )
        return "\n".join(lines)
    at_least = "at least " if missing else ""
    on = counted(cores, "core")
    said = f"  time left: {at_least}about {hours(seconds)} on {on}, at this run's rates per kind of work"
    if stood_in:
        said += f" ({stood_in} jobs at the rate of the closest kind that ran)"
    if missing:
        said += f"; not counted (no job of their rule ran here yet): {', '.join(missing)}"
    lines.append(said)
    if estimate:  # the time left on the cores the estimate was made for
        left_s = (
            seconds if estimate["cores"] == cores else time_left(config, left, done, estimate["cores"], directory)[0]
        )
        lines.append(f"  {against_estimate(estimate, done, None if missing else left_s)}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--directory", "-d", type=Path, default=Path("."), help="the run's directory (default: here)")
    parser.add_argument("--cores", type=int, default=2, help="the cores the run has, for the time left (default 2)")
    parser.add_argument("--snakefile", "-s", help="the run's Snakefile where it is not the directory's")
    args = parser.parse_args(argv)
    try:
        print(status(args.directory, args.cores, args.snakefile))
    except (FileNotFoundError, RuntimeError) as error:
        parser.exit(2, f"error: {error}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
