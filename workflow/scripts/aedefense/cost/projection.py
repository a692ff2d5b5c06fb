"""What a run will cost: every job Snakemake plans for a config, the work each computes, and
the wall time that work takes at given rates (measured by a finished run, or by a short
benchmark of this machine)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from aedefense.cost import work
from aedefense.plan import grid
from aedefense.plan.attack_specs import work_of
from aedefense.plan.datasets import DATASETS
from aedefense.plan.names import AUTO, WORST
from aedefense.plan.params import (
    at_scale,
    attack_settings,
    autoencoder_settings,
    defence_stochastic,
    evaluation_settings,
    final_settings,
    health_settings,
)

ROOT = Path(__file__).resolve().parents[4]
# Training images of the official datasets (a mirror may hold fewer; rates are per image).
EXACT_CONTRACTIVE = "train_autoencoder (exact contractive)"
# Jobs that cost nothing worth projecting: Snakemake's target, and downloads (network-bound).
NOT_PROJECTED = ("all", "download")


def load_config(configfiles=(), overrides: dict | None = None) -> dict:
    """config.yaml with the given files, then --config values (as snakemake.cli.parse_config
    reads them), laid on top by Snakemake's own merge."""
    import yaml
    from snakemake.utils import update_config

    from aedefense.plan.config import as_plain

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for path in configfiles:
        update_config(config, yaml.safe_load(Path(path).read_text()) or {})
    update_config(config, overrides or {})
    return as_plain(config)


class PlanError(RuntimeError):
    """Snakemake refused to plan the run; the message holds what it said."""


# Runs Snakemake's dry run with Job.log_info, which it calls for every job it plans, wrapped to
# write the job first as one JSON line: its rule and wildcards, and where asked its outputs and
# params. The plan is read as data, not parsed out of the printed text.
PLAN_RECORDER = """
import json, sys
from snakemake import jobs

out, with_params = open(sys.argv.pop(1), "w"), sys.argv.pop(1) == "params"
log_info = jobs.Job.log_info


def record_then_log(job, *args, **kwargs):
    record = {"rule": job.rule.name, "wildcards": dict(job.wildcards_dict or {})}
    if with_params:
        record.update(output=sorted(map(str, job.output)), params=dict(job.params.items()))
    out.write(json.dumps(record, sort_keys=True, default=repr) + "\\n")
    out.flush()
    return log_info(job, *args, **kwargs)


jobs.Job.log_info = record_then_log
from snakemake.cli import main

main(sys.argv[1:])
"""


def planned_job_records(snakemake_args=(), directory: str | None = None, params: bool = False) -> list[dict]:
    """Every job a dry run plans, as {rule, wildcards} (and output and params where `params`):
    in `directory` (what is left to do there), or in an empty one with --forceall (the whole
    config)."""
    with tempfile.TemporaryDirectory() as scratch:
        planned = Path(scratch) / "jobs.jsonl"
        recorder = [sys.executable, "-c", PLAN_RECORDER, str(planned), "params" if params else "plan"]
        command = [*recorder, "-n", "-s", str(ROOT / "Snakefile"), "--cores", "8"]
        command += ["-d", directory] if directory else ["-d", scratch, "--forceall"]
        result = subprocess.run([*command, *snakemake_args], capture_output=True, text=True)
        if result.returncode != 0:
            # Snakemake prints some of its refusals (an invalid config) on stdout
            said = "\n".join(part.strip() for part in (result.stderr, result.stdout) if part.strip())
            raise PlanError(f"snakemake could not plan the run:\n{said or f'exit status {result.returncode}'}")
        lines = planned.read_text().splitlines() if planned.exists() else []
    return [json.loads(line) for line in lines]


def planned_jobs(snakemake_args=(), directory: str | None = None) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job a dry run plans (planned_job_records)."""
    return [(job["rule"], job["wildcards"]) for job in planned_job_records(snakemake_args, directory)]


def planned_work(config: dict, rule: str, wildcards: dict, train_images=None, scales_by_cell=None) -> tuple[str, float]:
    """(category, work) of one planned job, in the units its job's timing file records:
    image-iterations (attacks), image-forwards (evaluations), image-steps (training).
    train_images: dataset -> training images where they differ from the official sets;
    scales_by_cell: grid.evaluation_scales(config), computed once by the caller of many jobs."""
    dataset = wildcards.get("dataset")
    train_images = {name: info.official_train_images for name, info in DATASETS.items()} | (train_images or {})
    if rule in ("attack", "attack_adaptive"):
        scale = float(wildcards["scale"]) if "scale" in wildcards else None
        settings = attack_settings(
            config, dataset, wildcards["attack"], float(wildcards["eps"]), wildcards["ae"], scale
        )
        if settings.get("stochastic") == AUTO:  # the contract check decides: counted as sampling
            settings = final_settings(settings, True)
        return rule, work_of(settings, settings["images"])
    if rule in ("evaluate", "evaluate_adaptive"):
        scales = grid.evaluation_job_scales(
            scales_by_cell or grid.evaluation_scales(config),
            wildcards["ae"],
            wildcards["attack"],
            wildcards.get("scale"),
        )
        settings = evaluation_settings(config, dataset, wildcards["ae"], scales)
        stochastic = [bool(defence_stochastic(config, wildcards["ae"], s)) for s in scales]  # auto counts as True
        draws = [at_scale(settings, samples, s).get("draws", 1) for samples, s in zip(stochastic, scales)]
        sets = len(config["worst_case_over"]) if wildcards["attack"] == WORST else 1
        return rule, work.evaluation(settings["images"], draws, sets)
    if rule == "train_autoencoder":
        settings = autoencoder_settings(config, dataset, wildcards["ae"])  # "contractive" only where alpha > 0
        kind = EXACT_CONTRACTIVE if settings.get("contractive") == "exact" else rule
        return kind, work.training(settings["epochs"], train_images[dataset])
    if rule == "train_classifier":
        return rule, work.training(config["data"][dataset]["classifier_epochs"], train_images[dataset])
    if rule == "latent":
        return rule, work.latent(config["data"][dataset]["attack_images"])
    if rule == "health":
        settings = health_settings(config, dataset, wildcards["ae"], float(wildcards["scale"]))
        return rule, work.health(settings["images"], len(settings["eps"]), settings.get("draws", 1))
    return rule, 0.0


def project(rates: dict, config: dict, jobs, train_images=None) -> tuple[list[dict], list[str]]:
    """Per category: jobs, overhead seconds (jobs x overhead per job) and compute seconds
    (work / rate, or jobs x compute per job where a category has no work measure). rates:
    category -> {"overhead_per_job_s", "rate" or "compute_per_job_s"}. Returns the rows and
    the categories that have no rate (left out)."""
    counts, work = defaultdict(int), defaultdict(float)
    scales_by_cell = grid.evaluation_scales(config)  # once, not once per evaluation job
    for rule, wildcards in jobs:
        kind, amount = planned_work(config, rule, wildcards, train_images, scales_by_cell)
        counts[kind] += 1
        work[kind] += amount
    projected, missing = [], []
    for kind in sorted(counts):
        if kind in NOT_PROJECTED:
            continue
        rate = rates.get(kind)
        if rate is None:
            missing.append(f"{kind} ({counts[kind]} jobs)")
            continue
        if rate.get("rate"):
            compute = work[kind] / rate["rate"]
        else:
            compute = counts[kind] * rate.get("compute_per_job_s", 0.0)
        projected.append(
            {
                "rule": kind,
                "jobs": counts[kind],
                "overhead_s": counts[kind] * rate["overhead_per_job_s"],
                "compute_s": compute,
            }
        )
    return projected, missing


def hours(seconds: float) -> str:
    """A duration as a person reads it: minutes, hours, or days past two days."""
    if seconds >= 48 * 3600:
        return f"{seconds / 86400:.0f} days"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"
