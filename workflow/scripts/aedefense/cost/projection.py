"""What a run will cost: every job Snakemake plans for a config, the work each computes, and
the wall time that work takes at given rates (measured by a finished run, or by a short
benchmark of this machine)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from aedefense.cost import work
from aedefense.files.timings import with_todays_names
from aedefense.plan import grid
from aedefense.plan.attack_specs import work_of
from aedefense.plan.datasets import DATASETS
from aedefense.plan.names import AUTO, WORST
from aedefense.plan.params import (
    at_scale,
    attack_settings,
    autoencoder_settings,
    classifier_settings,
    defence_stochastic,
    evaluation_settings,
    final_settings,
    health_settings,
)

ROOT = Path(__file__).resolve().parents[4]
# The last estimate made for the run in a directory (cost.estimate), beside its timing records
ESTIMATE_RECORD = Path("logs") / "estimate.json"
# Jobs that cost nothing worth projecting: Snakemake's target, and downloads (network-bound).
NOT_PROJECTED = ("all", "download")


def load_config(configfiles=(), overrides: dict | None = None, base: Path = ROOT / "config.yaml") -> dict:
    """`base` (config.yaml) with the given files, then --config values (as
    snakemake.cli.parse_config reads them), laid on top by Snakemake's own merge."""
    import yaml
    from snakemake.utils import update_config

    from aedefense.plan.config import as_plain

    config = yaml.safe_load(Path(base).read_text())
    for path in configfiles:
        update_config(config, yaml.safe_load(Path(path).read_text()) or {})
    update_config(config, overrides or {})
    return as_plain(config)


def config_of_run(directory: Path) -> dict | None:
    """The config a run was made with, from the options it recorded as its jobs started
    (logs/run_settings.json) laid over the config.yaml beside its Snakefile; None where it
    recorded none or its config files are gone."""
    from aedefense.report.build import recorded_run

    recorded = recorded_run(directory)
    if recorded is None:
        return None
    paths = [entry["path"] for entry in recorded.get("configfiles", [])]
    snakefile = Path(recorded.get("snakefile") or ROOT / "Snakefile")
    base = snakefile.parent / "config.yaml"
    if not all(Path(path).exists() for path in [*paths, base]):
        return None
    return load_config(paths, recorded.get("config", {}), base)


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


def planned_job_records(
    snakemake_args=(), directory: str | None = None, params: bool = False, snakefile: str | None = None
) -> list[dict]:
    """Every job a dry run plans, as {rule, wildcards} (and output and params where `params`):
    in `directory` (what is left to do there), or in an empty one with --forceall (the whole
    config), of `snakefile` (this checkout's by default)."""
    with tempfile.TemporaryDirectory() as scratch:
        planned = Path(scratch) / "jobs.jsonl"
        recorder = [sys.executable, "-c", PLAN_RECORDER, str(planned), "params" if params else "plan"]
        command = [*recorder, "-n", "-s", str(snakefile or ROOT / "Snakefile"), "--cores", "8"]
        command += ["-d", directory] if directory else ["-d", scratch, "--forceall"]
        result = subprocess.run([*command, *snakemake_args], capture_output=True, text=True)
        if result.returncode != 0:
            # Snakemake prints some of its refusals (an invalid config) on stdout
            said = "\n".join(part.strip() for part in (result.stderr, result.stdout) if part.strip())
            raise PlanError(f"snakemake could not plan the run:\n{said or f'exit status {result.returncode}'}")
        lines = planned.read_text().splitlines() if planned.exists() else []
    return [json.loads(line) for line in lines]


def planned_jobs(
    snakemake_args=(), directory: str | None = None, snakefile: str | None = None
) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job a dry run plans (planned_job_records)."""
    records = planned_job_records(snakemake_args, directory, snakefile=snakefile)
    return [(job["rule"], with_todays_names(job["wildcards"])) for job in records]


@dataclass(frozen=True, order=True)
class WorkKind:
    """What sets the rate of a job's work, beside the machine: its rule (an adaptive attack or
    evaluation counts with its plain rule), what it runs within the rule (the attack method,
    the training's contractive penalty), the images' shape and how many go through the model
    at once. Jobs of one kind run at one rate per work unit; a rate model has one per kind.

    >>> str(WorkKind("attack", "cw", "1x28x28", 1000))
    'attack cw 1x28x28 batch 1000'
    """

    rule: str
    what: str = ""
    shape: str = ""
    batch: int = 0

    def __str__(self) -> str:
        batch = f"batch {self.batch}" if self.batch else ""
        return " ".join(part for part in (self.rule, self.what, self.shape, batch) if part)


# the rule whose rate an adaptive job's work runs at (EOT draws are counted in its work)
RATE_RULE = {"attack_adaptive": "attack", "evaluate_adaptive": "evaluate"}


def shape_of(dataset: str) -> str:
    return "x".join(map(str, DATASETS[dataset].shape))


def attack_kind(settings: dict, shape: str) -> WorkKind:
    """An attack's kind: its method (a suite: its protocol) and the images per forward pass
    (a batch of images times the EOT draws, which go through the model together)."""
    if settings["method"] == "suite":
        names = "+".join(component["name"] for component in settings["protocol"])
        return WorkKind("attack", f"suite {names}", shape)
    batch = min(settings["batch_size"], settings["images"]) * settings.get("eot_draws", 1)
    return WorkKind("attack", settings["method"], shape, batch)


def training_penalty(settings: dict) -> str:
    """plain, or the contractive penalty's estimator (projection, exact) of a cell with alpha > 0."""
    return settings.get("contractive", "plain") if settings.get("alpha", 0) > 0 else "plain"


def planned_work(
    config: dict, rule: str, wildcards: dict, train_images=None, scales_by_cell=None
) -> tuple[WorkKind, float]:
    """(kind, work) of one planned job, the work in the units its job's timing file records:
    image-iterations (attacks), image-forwards (evaluations), image-steps (training).
    train_images: dataset -> training images where they differ from the official sets;
    scales_by_cell: grid.evaluation_scales(config), computed once by the caller of many jobs."""
    dataset = wildcards.get("dataset")
    shape = shape_of(dataset) if dataset in DATASETS else ""
    train_images = {name: info.official_train_images for name, info in DATASETS.items()} | (train_images or {})
    if rule in ("attack", "attack_adaptive"):
        scale = float(wildcards["scale"]) if "scale" in wildcards else None
        settings = attack_settings(
            config, dataset, wildcards["attack"], float(wildcards["eps"]), wildcards["defence"], scale
        )
        if settings.get("stochastic") == AUTO:  # the contract check decides: counted as sampling
            settings = final_settings(settings, True)
        return attack_kind(settings, shape), work_of(settings, settings["images"])
    if rule in ("evaluate", "evaluate_adaptive"):
        scales = grid.evaluation_job_scales(
            scales_by_cell or grid.evaluation_scales(config),
            wildcards["defence"],
            wildcards["attack"],
            wildcards.get("scale"),
        )
        settings = evaluation_settings(config, dataset, wildcards["defence"], scales)
        stochastic = [bool(defence_stochastic(config, wildcards["defence"], s)) for s in scales]  # auto counts as True
        draws = [at_scale(settings, samples, s).get("draws", 1) for samples, s in zip(stochastic, scales)]
        sets = len(config["worst_case_over"]) if wildcards["attack"] == WORST else 1
        # a job of many draws spreads its fixed costs (loading, the clean pass) over more work
        kind = WorkKind("evaluate", f"{max(draws)} draws", shape, min(settings["batch_size"], settings["images"]))
        return kind, work.evaluation(settings["images"], draws, sets)
    if rule == "train_autoencoder":
        settings = autoencoder_settings(config, dataset, wildcards["defence"])
        kind = WorkKind(rule, training_penalty(settings), shape, settings["batch_size"])
        return kind, work.training(settings["epochs"], train_images[dataset])
    if rule == "train_classifier":
        kind = WorkKind(rule, "", shape, classifier_settings(config, dataset)["batch_size"])
        return kind, work.training(config["data"][dataset]["classifier_epochs"], train_images[dataset])
    if rule == "latent":
        return WorkKind(rule, "", shape), work.latent(config["data"][dataset]["attack_images"])
    if rule == "health":
        settings = health_settings(config, dataset, wildcards["defence"], float(wildcards["scale"]))
        draws = settings.get("draws", 1)
        kind = WorkKind(rule, f"{draws} draws", shape, min(settings["batch_size"], settings["images"]))
        return kind, work.health(settings["images"], len(settings["eps"]), draws)
    return WorkKind(rule, "", shape), 0.0


def hours(seconds: float) -> str:
    """A duration as a person reads it: minutes, hours, or days past two days."""
    if seconds >= 48 * 3600:
        return f"{seconds / 86400:.0f} days"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def counted(number: int, noun: str) -> str:
    """'1 core', '2 cores'.

    >>> counted(1, "core"), counted(2, "job")
    ('1 core', '2 jobs')
    """
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
