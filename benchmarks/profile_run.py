"""Where the time of a finished run went, per rule, and what the whole paper would take.

    python benchmarks/profile_run.py [--directory DIR] [--parallel N] [--plan-configfile FILE ...]
                                     [--target results/figures/fig1.pdf ...]

Reads every job's timing file (`logs/**/<job>.timing.json`, written by each job: start-up,
load, compute and save seconds, and the work it computed) and its Snakemake benchmark file
(the job's whole wall time, which also holds what the job spent before Python ran its first
line). Prints, per rule: jobs, mean wall, compute share and overhead share (everything but
compute: start-up, loading, saving), and the same over all jobs. --target keeps the jobs a
target needs (Snakemake plans it with the --plan-configfile config): one figure of a run
directory that holds several.

Then the rates by kind of work (cost.rates: per rule, what it runs within the rule, the image
shape and the batch; each job's kind from the run's own config, logs/run_settings.json), and
the projection of the whole paper (config.yaml, or the config given by --plan-configfile) on
the machine the run was made on: Snakemake plans every job of that config (a dry run with
--forceall in an empty directory), each job's kind and work are computed from its settings, and

    projected time of a kind = jobs x its rule's mean overhead per job + work / the kind's rate

summed over kinds and divided by the jobs that run at once (--parallel; by default the run's
own concurrency over all its jobs, --target or not: the time its jobs ran over the time at
least one of them ran, so that a run made in parts, with pauses between them, is not read as
a slow one). A kind the run has no job of takes the rate of the closest kind of its rule it
has (named beside it); rules the run has no job of are listed and left out. Only the rates
are measured; the projection is arithmetic on them.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from aedefense.cost.projection import config_of_run, hours, load_config, planned_jobs  # noqa: E402
from aedefense.cost.rates import planned_kinds, project, rates_of_run  # noqa: E402
from aedefense.cost.status import against_estimate, busy_seconds, estimate_of_run  # noqa: E402
from aedefense.files.timings import read_job_times  # noqa: E402
from aedefense.report.build import recorded_run  # noqa: E402


def read_jobs(directory: Path) -> list[dict]:
    jobs = read_job_times(directory)
    for record in jobs:
        record["category"] = record["rule"]
    return jobs


def needed_by(jobs: list[dict], planned: list[tuple[str, dict]]) -> list[dict]:
    """The jobs (timing records) that are in the plan: the same rule and wildcards."""
    wanted = {(rule, tuple(sorted(wildcards.items()))) for rule, wildcards in planned}
    return [j for j in jobs if (j["rule"], tuple(sorted(j.get("wildcards", {}).items()))) in wanted]


def concurrency(jobs: list[dict]) -> tuple[float, float]:
    """(jobs running at a time on average, seconds during which any ran)."""
    busy = busy_seconds(jobs)
    # the same intervals on both sides: a job's benchmark wall time also holds its process's
    # spawn and exit, which its timing interval leaves out
    ran = sum(j["finished_at"] - j["started_at"] for j in jobs)
    return (ran / busy if busy > 0 else 1.0), busy


def summarise(jobs: list[dict]) -> list[dict]:
    by_category = defaultdict(list)
    for job in jobs:
        by_category[job["category"]].append(job)
    rows = []
    for name, group in sorted(by_category.items()):
        wall = sum(j["wall_s"] for j in group)
        compute = sum(j["compute_s"] for j in group)
        work = sum(j.get("work", {}).get("amount", 0) for j in group)
        rows.append(
            {
                "rule": name,
                "jobs": len(group),
                "mean_wall_s": wall / len(group),
                "total_wall_s": wall,
                "compute_share": compute / wall if wall else 0.0,
                "overhead_per_job_s": (wall - compute) / len(group),
                "compute_per_job_s": compute / len(group),
                "startup_per_job_s": sum(j["startup_s"] for j in group) / len(group),
                "rate": work / compute if work and compute else None,
                "unit": next((j["work"]["unit"] for j in group if j.get("work")), ""),
            }
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", default=".", help="the run's working directory (logs/ inside)")
    parser.add_argument("--parallel", type=float, help="jobs at once in the projection (default: the run's own)")
    parser.add_argument(
        "--plan-configfile",
        action="append",
        default=[],
        help="project this config (laid over config.yaml) instead of config.yaml alone",
    )
    parser.add_argument(
        "--run-data",
        action="store_true",
        help="project on the run's training-set sizes (e.g. a mirror's subset), not the official ones",
    )
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        help="profile only the jobs this target needs, as the --plan-configfile config plans it",
    )
    parser.add_argument("--no-projection", action="store_true", help="the run's own table only, without the projection")
    args = parser.parse_args()
    plan_args = [item for path in args.plan_configfile for item in ("--configfile", str(Path(path).resolve()))]
    jobs = read_jobs(Path(args.directory))
    everything = jobs
    if args.target:
        jobs = needed_by(jobs, planned_jobs([*args.target, *plan_args]))
    if not jobs:
        what = f"that {' '.join(args.target)} needs " if args.target else ""
        sys.exit(f"no job timing files {what}under {Path(args.directory) / 'logs'}; run the workflow first")
    rows = summarise(jobs)
    at_once, busy = concurrency(jobs)
    devices = sorted({j["device"] for j in jobs})
    kept = f" (of the {len(everything)} timed there; the others are not in the target's plan)" if args.target else ""
    print(
        f"{len(jobs)} jobs in {args.directory}{kept} (devices: {', '.join(devices)}); "
        f"jobs ran {at_once:.2f} at a time on average over the {hours(busy)} during which any ran"
    )
    print(f"{'rule':40} {'jobs':>5} {'mean wall':>10} {'start-up':>9} {'compute':>8} {'overhead':>9}  compute rate")
    for row in rows:
        rate = f"{row['rate']:,.0f} {row['unit']}/s" if row["rate"] else ""
        print(
            f"{row['rule']:40} {row['jobs']:>5} {row['mean_wall_s']:>9.2f}s {row['startup_per_job_s']:>8.2f}s "
            f"{row['compute_share']:>8.0%} {1 - row['compute_share']:>9.0%}  {rate}"
        )
    total = sum(r["total_wall_s"] for r in rows)
    compute = sum(r["total_wall_s"] * r["compute_share"] for r in rows)
    print(
        f"{'all jobs':40} {len(jobs):>5} {total / len(jobs):>9.2f}s {'':>9} {compute / total:>8.0%} "
        f"{1 - compute / total:>9.0%}  summed job time {hours(total)}"
    )
    estimate = estimate_of_run(Path(args.directory), recorded_run(args.directory) or {})
    if estimate and not args.target:  # the whole run: what is left of it is not known here
        print(
            f"Against the estimate made before it (if the run has finished): {against_estimate(estimate, everything)}"
        )
    if args.no_projection:
        return
    config = load_config(args.plan_configfile)
    run_config = config_of_run(Path(args.directory))
    whose = "the jobs' kinds from the run's own config"
    if run_config is None:
        run_config, whose = config, "the jobs' kinds from the projected config: the run's config files are not there"
    model = rates_of_run(jobs, run_config)
    print(f"\nRates by kind of work ({whose}):")
    for kind, value in sorted(model.rates.items(), key=lambda item: str(item[0])):
        print(f"  {str(kind):48} {value:>12,.0f} per s")
    # the run's own training sets where it recorded them (a mirror may hold a subset)
    sizes = {}
    if args.run_data:
        sizes = {
            j["wildcards"]["dataset"]: j["work"]["train_images"] for j in jobs if "train_images" in j.get("work", {})
        }
    projected, missing = project(model, planned_kinds(config, planned_jobs(plan_args), sizes))
    # the machine's concurrency, from every job of the run: a target's jobs alone may have
    # shared the machine with other targets' jobs
    parallel = args.parallel or concurrency(everything)[0]
    serial = sum(p["overhead_s"] + p["compute_s"] for p in projected)
    what = " + ".join(["config.yaml", *args.plan_configfile])
    print(
        f"\nProjection for {what}: {sum(p['jobs'] for p in projected)} jobs at this run's rates"
        + (f"; training sets as in the run: {sizes}" if sizes else "")
    )
    for p in projected:
        stood_in = f"  (at the rate of {p['measured_on']})" if p["measured_on"] else ""
        print(
            f"  {str(p['kind']):48} {p['jobs']:>5} jobs  overhead {hours(p['overhead_s']):>8}  "
            f"compute {hours(p['compute_s']):>8}{stood_in}"
        )
    print(f"  summed job time {hours(serial)}; at {parallel:.2f} jobs at once: {hours(serial / parallel)} wall")
    if missing:
        print("  not projected (no job of their rule in the run): " + ", ".join(missing))


if __name__ == "__main__":
    main()
