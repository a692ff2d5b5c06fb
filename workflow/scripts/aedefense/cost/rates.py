"""The rate model: how fast each kind of work (cost.projection.WorkKind) runs on one machine,
and what a job costs beside its work. One model serves every time the workflow states: the
estimate before a run (rates measured in seconds on the run's own models, cost.estimate), the
projection of a finished run (rates its jobs recorded, benchmarks/profile_run.py) and a
cluster's time limits (rates measured on a GPU, cluster_training_minutes below).
Torch-free."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from aedefense.cost.projection import NOT_PROJECTED, RATE_RULE, WorkKind, counted, planned_work
from aedefense.plan import grid
from aedefense.plan.params import autoencoder_settings


@dataclass
class RateModel:
    """rates: work units per second of compute, per kind; overhead_s: seconds per job of a
    rule beside its compute (start-up, loading, saving); per_job_s: compute seconds per job of
    a rule whose work has no measure (prepare)."""

    rates: dict[WorkKind, float]
    overhead_s: dict[str, float] = field(default_factory=dict)
    per_job_s: dict[str, float] = field(default_factory=dict)

    def rate_for(self, kind: WorkKind) -> tuple[float | None, WorkKind | None]:
        """(rate, the kind it was measured on): the kind's own, else the closest kind of its
        rule measured: the same method or penalty first, then the same shape, then the
        nearest batch. (None, None) where no kind of its rule was measured.

        >>> model = RateModel({WorkKind("attack", "cw", "1x28x28", 100): 500.0,
        ...                    WorkKind("attack", "pgd", "1x28x28", 1000): 700.0})
        >>> model.rate_for(WorkKind("attack", "cw", "3x32x32", 1000))
        (500.0, WorkKind(rule='attack', what='cw', shape='1x28x28', batch=100))
        >>> model.rate_for(WorkKind("evaluate", "", "1x28x28", 1000))
        (None, None)
        """
        if kind in self.rates:
            return self.rates[kind], kind
        candidates = [measured for measured in self.rates if measured.rule == kind.rule]
        if not candidates:
            return None, None

        def distance(measured: WorkKind):
            batches = abs(math.log(max(measured.batch, 1) / max(kind.batch, 1)))
            return (measured.what != kind.what, measured.shape != kind.shape, batches, str(measured))

        closest = min(candidates, key=distance)
        return self.rates[closest], closest

    def overhead_for(self, rule: str) -> float:
        """Seconds per job beside compute: the rule's own, else the mean over the rules measured."""
        rule = RATE_RULE.get(rule, rule)
        if rule in self.overhead_s:
            return self.overhead_s[rule]
        return sum(self.overhead_s.values()) / len(self.overhead_s) if self.overhead_s else 0.0


def rates_of_run(records: list[dict], config: dict) -> RateModel:
    """The rate model a finished run measured: per kind, the work its jobs recorded over their
    compute seconds; per rule, the mean of each job's wall time (`wall_s`) less its compute.
    A job's kind comes from `config`, the run's own (its settings are not in the record)."""
    work, compute = defaultdict(float), defaultdict(float)
    beside, jobs = defaultdict(float), defaultdict(int)
    per_job, per_job_count = defaultdict(float), defaultdict(int)
    for record in records:
        try:
            kind, _ = planned_work(config, record["rule"], record["wildcards"])
        except (KeyError, ValueError):  # a job of settings no longer in the config: its rule's rate
            kind = WorkKind(RATE_RULE.get(record["rule"], record["rule"]), "?")
        amount = record.get("work", {}).get("amount", 0)
        if amount and record["compute_s"] > 0:
            work[kind] += amount
            compute[kind] += record["compute_s"]
        elif not amount:
            per_job[kind.rule] += record["compute_s"]
            per_job_count[kind.rule] += 1
        beside[kind.rule] += record["wall_s"] - record["compute_s"]
        jobs[kind.rule] += 1
    return RateModel(
        rates={kind: work[kind] / compute[kind] for kind in work},
        overhead_s={rule: beside[rule] / jobs[rule] for rule in jobs},
        per_job_s={rule: per_job[rule] / per_job_count[rule] for rule in per_job},
    )


def planned_kinds(config: dict, jobs, train_images=None) -> list[tuple[str, WorkKind, float]]:
    """(rule, kind, work) of each planned job ((rule, wildcards) pairs) that costs anything to
    project, computed once for the plan: the estimate reads the kinds to measure from it, and
    project() sums it."""
    scales_by_cell = grid.evaluation_scales(config)  # once, not once per evaluation job
    return [
        (rule, *planned_work(config, rule, wildcards, train_images, scales_by_cell))
        for rule, wildcards in jobs
        if rule not in NOT_PROJECTED
    ]


def project(model: RateModel, planned: list[tuple[str, WorkKind, float]]) -> tuple[list[dict], list[str]]:
    """Per kind of work of the `planned` jobs (planned_kinds): jobs, overhead seconds (jobs x
    the rule's overhead per job), compute seconds (work / rate, or jobs x compute per job where
    the kind's work has no measure) and `measured_on`, the kind whose rate stood in where the
    model has none of its own (None where it has). Returns the rows, largest first, and the
    kinds that nothing measured stands in for (left out)."""
    counts, work, rules = defaultdict(int), defaultdict(float), {}
    for rule, kind, amount in planned:
        counts[kind] += 1
        work[kind] += amount
        rules[kind] = rule
    projected, missing = [], []
    for kind in sorted(counts):
        rate, measured_on = model.rate_for(kind)
        if rate is not None and work[kind] > 0:
            compute = work[kind] / rate
        elif kind.rule in model.per_job_s:  # no work measure: seconds per job
            compute, measured_on = counts[kind] * model.per_job_s[kind.rule], None
        else:
            missing.append(f"{kind} ({counted(counts[kind], 'job')})")
            continue
        projected.append(
            {
                "kind": kind,
                "jobs": counts[kind],
                "overhead_s": counts[kind] * model.overhead_for(rules[kind]),
                "compute_s": compute,
                "measured_on": None if measured_on == kind else measured_on,
            }
        )
    projected.sort(key=lambda row: -(row["overhead_s"] + row["compute_s"]))
    return projected, missing


def job_threads(config: dict, rule: str, cores: int) -> int:
    """The threads a job of `rule` runs on: its rule's threads (config.yaml `threads`), at most
    the run's cores, as Snakemake gives them.

    >>> job_threads({"threads": {"attack": 8}}, "attack", 2), job_threads({"threads": {"attack": 1}}, "attack", 2)
    (2, 1)
    """
    return max(1, min(cores, config["threads"][grid.RULE_THREADS.get(rule, "evaluate")]))


def spread_over_cores(projected: list[dict], config: dict, cores: int) -> float:
    """Sets each projected row's `wall_s`, its job time over the jobs of its rule that run at
    once on `cores` (cores // its jobs' threads), and returns their sum: the run's wall time."""
    for row in projected:
        at_once = max(1, cores // job_threads(config, row["kind"].rule, cores))
        row["wall_s"] = (row["overhead_s"] + row["compute_s"]) / at_once
    return sum(row["wall_s"] for row in projected)


# One training step on a GPU (an H200), images per second, per penalty, measured: plain steps
# and the exact penalty. The projection estimate is counted as one plain step per projection.
GPU_TRAINING = RateModel(
    {
        WorkKind("train_autoencoder", "plain"): 33_000.0,
        WorkKind("train_autoencoder", "exact"): 1_500.0,
    }
)
CLUSTER_HEADROOM = 5  # a slower GPU, a busy node, the start-up
CLUSTER_MINIMUM_MINUTES = 30


def cluster_training_minutes(config: dict, wildcards: dict) -> int:
    """The time limit (minutes) a cluster job training the autoencoder of `wildcards` asks for
    at its first attempt: its image-steps at GPU_TRAINING's rate for its penalty, with headroom.
    The exact contractive penalty costs about 20 plain steps, so those cells of the large
    datasets ask for more (profiles/slurm).

    >>> from aedefense.cost.projection import load_config
    >>> config = load_config(overrides={"autoencoder": {"contractive": "exact"}})
    >>> cluster_training_minutes(config, {"dataset": "mnist", "defence": "ae_d0_stp0.1_a0"})
    30
    >>> cluster_training_minutes(config, {"dataset": "mnist", "defence": "ae_d0_stp0.1_a0.1"})
    100
    """
    kind, image_steps = planned_work(config, "train_autoencoder", wildcards)
    if kind.what == "projection":
        settings = autoencoder_settings(config, wildcards["dataset"], wildcards["defence"])
        rate = GPU_TRAINING.rates[WorkKind("train_autoencoder", "plain")] / (1 + settings["contractive_projections"])
    else:
        rate = GPU_TRAINING.rates[WorkKind("train_autoencoder", kind.what)]
    return max(CLUSTER_MINIMUM_MINUTES, math.ceil(CLUSTER_HEADROOM * image_steps / rate / 60))
