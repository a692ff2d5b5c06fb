"""Where the time of a finished run went, per rule, and what the whole paper would take.

    python benchmarks/profile_run.py [--directory DIR] [--configfile presets/quick.yaml]
                                     [--parallel N] [--plan-configfile FILE ...]

Reads every job's timing file (`logs/**/<job>.timing.json`, written by each job: start-up,
load, compute and save seconds, and the work it computed) and its Snakemake benchmark file
(the job's whole wall time, which also holds what the job spent before Python ran its first
line). Prints, per rule: jobs, mean wall, compute share and overhead share (everything but
compute: start-up, loading, saving), and the same over all jobs.

Then projects the whole paper (config.yaml, or the config given by --plan-configfile) on the
machine the run was made on: Snakemake plans every job of that config (a dry run with
--forceall in an empty directory), each job's work is computed from its settings, and

    projected time of a rule = jobs x mean overhead per job + work / measured compute rate

summed over rules and divided by the jobs that run at once (--parallel; by default the run's
own concurrency: summed job time over its span). Rules the run has no job of are listed and
left out. Only the rates are measured; the projection is arithmetic on them.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from aedefense import settings as plan  # noqa: E402
from aedefense.attacks import work_of  # noqa: E402
from aedefense.cells import cell_from_name, split_replicate  # noqa: E402
from aedefense.config import as_plain  # noqa: E402

# Training images of the official datasets (a mirror may hold fewer; rates are per image).
TRAIN_IMAGES = {"mnist": 60000, "fashion-mnist": 60000, "btsc": 4575}


def read_jobs(directory: Path) -> list[dict]:
    jobs = []
    for path in sorted((directory / "logs").rglob("*.timing.json")):
        record = json.loads(path.read_text())
        benchmark = path.with_name(path.name.removesuffix(".timing.json") + ".benchmark.tsv")
        phases = sum(record[f"{p}_s"] for p in ("startup", "load", "compute", "save", "other"))
        record["wall_s"] = phases
        if benchmark.exists():  # Snakemake's own measure of the whole job process
            with open(benchmark) as handle:
                row = next(csv.DictReader(handle, delimiter="\t"))
            record["wall_s"] = max(float(row["s"]), phases)
        record["category"] = category(record["rule"], record.get("work", {}))
        jobs.append(record)
    return jobs


def category(rule: str, work: dict) -> str:
    """Rules whose jobs differ in cost per unit of work are split: the exact contractive
    penalty costs far more per image-step than any other autoencoder."""
    if rule == "train_autoencoder" and work.get("contractive") == "exact":
        return "train_autoencoder (exact contractive)"
    return rule


def summarise(jobs: list[dict]) -> tuple[list[dict], float]:
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
                "startup_per_job_s": sum(j["startup_s"] for j in group) / len(group),
                "rate": work / compute if work and compute else None,
                "unit": next((j["work"]["unit"] for j in group if j.get("work")), ""),
            }
        )
    span = max(j["finished_at"] for j in jobs) - min(j["started_at"] for j in jobs)
    concurrency = sum(j["wall_s"] for j in jobs) / span if span > 0 else 1.0
    return rows, concurrency


def load_config(configfiles: list[str]) -> dict:
    """config.yaml with the given files laid on top, as Snakemake lays --configfile."""

    def merge(base, top):
        for key, value in top.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = value
        return base

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for path in configfiles:
        merge(config, yaml.safe_load(Path(path).read_text()) or {})
    return as_plain(config)


def planned_jobs(configfiles: list[str]) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job of the config, from a Snakemake dry run."""
    with tempfile.TemporaryDirectory() as empty:
        command = [sys.executable, "-m", "snakemake", "-n", "--forceall", "-s", str(ROOT / "Snakefile"),
                   "-d", empty, "--cores", "8"]  # fmt: skip
        for path in configfiles:
            command += ["--configfile", str(Path(path).resolve())]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    jobs = []
    for block in re.split(r"^(?=rule \w+:$)", output, flags=re.MULTILINE)[1:]:
        rule = re.match(r"rule (\w+):", block)[1]
        found = re.search(r"^\s+wildcards: (.*)$", block, flags=re.MULTILINE)
        wildcards = dict(item.split("=", 1) for item in found[1].split(", ")) if found else {}
        jobs.append((rule, wildcards))
    return jobs


def planned_work(config: dict, rule: str, wildcards: dict) -> tuple[str, float]:
    """(category, work) of one planned job, in the units its job's timing file records."""
    dataset = wildcards.get("dataset")
    if rule in ("attack", "attack_adaptive"):
        scale = float(wildcards["scale"]) if "scale" in wildcards else None
        settings = plan.attack_settings(config, dataset, wildcards["attack"], float(wildcards["eps"]), wildcards["ae"], scale)
        return rule, work_of(settings, settings["images"])
    if rule in ("evaluate", "evaluate_adaptive"):
        base = split_replicate(wildcards["ae"])[0]
        if "scale" in wildcards:
            scales = [float(wildcards["scale"])]
        else:
            scales = plan.evaluation_scales(config).get((base, wildcards["attack"]), [0.0])
        images = config["data"][dataset]["attack_images"]
        draws = sum(config["evaluation"]["latent_draws"] if plan.is_stochastic(base, s) else 1 for s in scales)
        sets = len(config["worst_case_over"]) if wildcards["attack"] == plan.WORST else 1
        return rule, images * draws * sets
    if rule == "train_autoencoder":
        settings = plan.autoencoder_settings(config, dataset, wildcards["ae"])
        kind = "train_autoencoder (exact contractive)" if cell_from_name(split_replicate(wildcards["ae"])[0]).alpha > 0 and settings.get("contractive") == "exact" else rule
        return kind, settings["epochs"] * TRAIN_IMAGES[dataset]
    if rule == "train_classifier":
        return rule, config["data"][dataset]["classifier_epochs"] * TRAIN_IMAGES[dataset]
    if rule == "latent":
        return rule, 2 * config["data"][dataset]["attack_images"]
    return rule, 0.0


def project(rows: list[dict], config: dict, jobs: list[tuple[str, dict]]) -> tuple[list[dict], list[str]]:
    measured = {row["rule"]: row for row in rows}
    counts, work = defaultdict(int), defaultdict(float)
    for rule, wildcards in jobs:
        kind, amount = planned_work(config, rule, wildcards)
        counts[kind] += 1
        work[kind] += amount
    projected, missing = [], []
    for kind in sorted(counts):
        row = measured.get(kind)
        if row is None:
            if kind not in ("all", "download"):
                missing.append(f"{kind} ({counts[kind]} jobs)")
            continue
        compute = work[kind] / row["rate"] if row["rate"] else 0.0
        if not row["rate"]:  # no work measure: its whole mean wall per job
            compute = counts[kind] * (row["mean_wall_s"] - row["overhead_per_job_s"])
        overhead = counts[kind] * row["overhead_per_job_s"]
        projected.append({"rule": kind, "jobs": counts[kind], "overhead_s": overhead, "compute_s": compute})
    return projected, missing


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", default=".", help="the run's working directory (logs/ inside)")
    parser.add_argument("--parallel", type=float, help="jobs at once in the projection (default: the run's own)")
    parser.add_argument("--plan-configfile", action="append", default=[],
                        help="project this config (laid over config.yaml) instead of config.yaml alone")  # fmt: skip
    parser.add_argument("--no-projection", action="store_true")
    args = parser.parse_args()
    jobs = read_jobs(Path(args.directory))
    if not jobs:
        sys.exit(f"no job timing files under {Path(args.directory) / 'logs'}; run the workflow first")
    rows, concurrency = summarise(jobs)
    devices = sorted({j["device"] for j in jobs})
    print(f"{len(jobs)} jobs in {args.directory} (devices: {', '.join(devices)}); "
          f"jobs ran {concurrency:.2f} at a time on average")  # fmt: skip
    print(f"{'rule':40} {'jobs':>5} {'mean wall':>10} {'start-up':>9} {'compute':>8} {'overhead':>9}  compute rate")
    for row in rows:
        rate = f"{row['rate']:,.0f} {row['unit']}/s" if row["rate"] else ""
        print(f"{row['rule']:40} {row['jobs']:>5} {row['mean_wall_s']:>9.2f}s {row['startup_per_job_s']:>8.2f}s "
              f"{row['compute_share']:>8.0%} {1 - row['compute_share']:>9.0%}  {rate}")  # fmt: skip
    total = sum(r["total_wall_s"] for r in rows)
    compute = sum(r["total_wall_s"] * r["compute_share"] for r in rows)
    print(f"{'all jobs':40} {len(jobs):>5} {total / len(jobs):>9.2f}s {'':>9} {compute / total:>8.0%} "
          f"{1 - compute / total:>9.0%}  summed job time {hours(total)}")  # fmt: skip
    if args.no_projection:
        return
    config = load_config(args.plan_configfile)
    projected, missing = project(rows, config, planned_jobs(args.plan_configfile))
    parallel = args.parallel or concurrency
    serial = sum(p["overhead_s"] + p["compute_s"] for p in projected)
    what = " + ".join(["config.yaml", *args.plan_configfile])
    print(f"\nProjection for {what}: {sum(p['jobs'] for p in projected)} jobs at this run's rates")
    for p in projected:
        print(f"  {p['rule']:40} {p['jobs']:>5} jobs  overhead {hours(p['overhead_s']):>9}  compute {hours(p['compute_s']):>9}")
    print(f"  summed job time {hours(serial)}; at {parallel:.2f} jobs at once: {hours(serial / parallel)} wall")
    if missing:
        print("  not projected (no job of these in the run): " + ", ".join(missing))


if __name__ == "__main__":
    main()
