"""The rate model: rates per kind of work from a run's timing records, and the projection of a
plan at those rates. Two runs with different mixes of the same kinds project one plan alike."""

import subprocess
import sys
from pathlib import Path

import pytest

from aedefense.cost.projection import WorkKind, load_config, planned_work
from aedefense.cost.rates import RateModel, planned_kinds, project, rates_of_run

FIXTURE_CONFIG = Path(__file__).resolve().parent / "fixture_config.yaml"
PLAIN, CONTRACTIVE = "ae_d0_stp0.2_a0", "ae_d0_stp0.2_a0.1"  # Fig. 4 of the fixture grid
VAE = "vae_d1_stp0.2_a0"  # Fig. 3: latent scales 1 and 2


@pytest.fixture(scope="module")
def config():
    return load_config([FIXTURE_CONFIG])


def record(config, rule, wildcards, compute_s, overhead_s=1.0):
    """A timing record as a job writes it (with the wall time profile_run adds)."""
    _, amount = planned_work(config, rule, wildcards)
    return {
        "rule": rule,
        "wildcards": wildcards,
        "compute_s": compute_s,
        "wall_s": compute_s + overhead_s,
        "work": {"unit": "u", "amount": amount} if amount else {},
    }


def training(config, cell, rate):
    """A training record of `cell` that ran at `rate` image-steps per second."""
    wildcards = {"dataset": "mnist", "defence": cell}
    _, image_steps = planned_work(config, "train_autoencoder", wildcards)
    return record(config, "train_autoencoder", wildcards, image_steps / rate)


def test_a_run_measures_one_rate_per_kind_and_one_overhead_per_rule(config):
    cw = {"dataset": "mnist", "defence": PLAIN, "attack": "cw", "eps": "0.1"}
    deepfool = cw | {"attack": "deepfool"}
    records = [
        record(config, "attack", cw, compute_s=2.0, overhead_s=1.0),
        record(config, "attack", cw | {"eps": "0.3"}, compute_s=2.0, overhead_s=3.0),
        record(config, "attack", deepfool, compute_s=10.0, overhead_s=2.0),
        record(config, "prepare", {"dataset": "mnist"}, compute_s=5.0),
    ]
    model = rates_of_run(records, config)
    cw_kind, cw_work = planned_work(config, "attack", cw)
    deepfool_kind, deepfool_work = planned_work(config, "attack", deepfool)
    assert cw_kind == WorkKind("attack", "cw", "1x28x28", 40) and deepfool_kind.what == "deepfool"
    assert model.rates[cw_kind] == pytest.approx(cw_work / 2.0)
    assert model.rates[deepfool_kind] == pytest.approx(deepfool_work / 10.0)
    assert model.overhead_s["attack"] == pytest.approx(2.0)  # (1 + 3 + 2) / 3
    assert model.per_job_s == {"prepare": 5.0}  # no work measure: seconds per job


def test_two_runs_of_different_mixes_project_one_plan_alike(config):
    """A run of plain cells only and a run mostly of contractive ones, at the same rates per
    kind: a rate per rule would differ by the mix (the contractive penalty is slower); the
    rates per kind do not, so both project the plan to the same time."""
    plain_rate, contractive_rate = 1000.0, 250.0
    mostly_plain = [training(config, PLAIN, plain_rate)] * 5 + [training(config, CONTRACTIVE, contractive_rate)]
    mostly_contractive = [training(config, PLAIN, plain_rate)] + [training(config, CONTRACTIVE, contractive_rate)] * 5
    plan = [("train_autoencoder", {"dataset": "mnist", "defence": cell}) for cell in (PLAIN, CONTRACTIVE)]
    totals = []
    for records in (mostly_plain, mostly_contractive):
        rows, missing = project(rates_of_run(records, config), planned_kinds(config, plan))
        assert missing == [] and [row["measured_on"] for row in rows] == [None, None]
        totals.append(sum(row["compute_s"] for row in rows))
    _, image_steps = planned_work(config, "train_autoencoder", plan[0][1])
    assert totals[0] == pytest.approx(totals[1])
    assert totals[0] == pytest.approx(image_steps / plain_rate + image_steps / contractive_rate)


def test_a_kind_the_run_lacks_takes_the_closest_rate_of_its_rule_and_says_so(config):
    model = RateModel(
        {WorkKind("attack", "cw", "1x28x28", 40): 100.0, WorkKind("attack", "pgd", "3x32x32", 40): 1.0},
        overhead_s={"attack": 2.0},
    )
    plan = [
        ("attack_adaptive", {"dataset": "mnist", "defence": VAE, "attack": "cweot", "eps": "0.1", "scale": "1.0"}),
        ("latent", {"dataset": "mnist", "defence": PLAIN, "attack": "cw", "eps": "0.1"}),
    ]
    rows, missing = project(model, planned_kinds(config, plan))
    # cweot on a VAE that samples: CW with 2 EOT draws of 40 images, 80 at once: the same
    # method, a larger batch
    kind, work = planned_work(config, *plan[0])
    assert kind == WorkKind("attack", "cw", "1x28x28", 80)
    assert rows == [
        {
            "kind": kind,
            "jobs": 1,
            "overhead_s": 2.0,
            "compute_s": pytest.approx(work / 100.0),
            "measured_on": WorkKind("attack", "cw", "1x28x28", 40),
        }
    ]
    assert missing == ["latent 1x28x28 (1 job)"]  # no latent analysis was measured


def test_status_times_the_jobs_left_at_the_rate_of_their_own_kind(config):
    """make status: a plain training left runs at the plain rate the run measured, not at the
    rule's mean, which a contractive cell of 10x the time pulls up; a kind with no job of its
    own takes the closest kind's rate and is counted; a rule with none is named."""
    from aedefense.cost.status import time_left

    done = [training(config, PLAIN, rate=1000.0), training(config, CONTRACTIVE, rate=100.0)]
    plain_left = ("train_autoencoder", {"dataset": "mnist", "defence": "ae_d1_stp0.2_a0"})
    _, image_steps = planned_work(config, *plain_left)
    threads = config["threads"]["train_autoencoder"]
    seconds, stood_in, missing = time_left(config, [plain_left], done, cores=threads)
    assert seconds == pytest.approx(image_steps / 1000.0 + 1.0) and stood_in == 0 and missing == []
    # on twice the cores two trainings run at once
    two = [plain_left, ("train_autoencoder", {"dataset": "mnist", "defence": PLAIN})]
    assert time_left(config, two, done, cores=2 * threads)[0] == pytest.approx(image_steps / 1000.0 + 1.0)
    latent = ("latent", {"dataset": "mnist", "defence": VAE})
    other_shape = ("train_autoencoder", {"dataset": "btsc", "defence": "ae_d1_stp0.2_a0"})  # 3x32x32
    seconds, stood_in, missing = time_left(config, [latent, other_shape], done, cores=threads)
    assert stood_in == 1 and missing == ["latent 1x28x28 (1 job)"]


def test_status_without_a_recorded_run_says_so(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "aedefense.cost.status", "--directory", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "no run was recorded in" in done.stderr and "Traceback" not in done.stderr


def test_status_sets_the_run_against_the_estimate_made_before_it(tmp_path):
    """logs/estimate.json (the estimate make paper printed) against the union of the job
    intervals since it was made, plus the time left; an estimate for other options is not
    the run's."""
    import json

    from aedefense.cost.status import against_estimate, estimate_of_run

    options = {"targets": ["results/figures/fig4.pdf"], "configfiles": [{"path": "/p/paper.yaml"}], "config": {}}
    estimate = {
        "made_at": 1000.0,
        "targets": ["results/figures/fig4.pdf"],
        "options": {"configfiles": [{"path": "/p/paper.yaml", "sha256": None}], "config": {}},
        "cores": 2,
        "wall_s": 7200.0,
        "idle_wall_s": 3600.0,
    }
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "estimate.json").write_text(json.dumps(estimate))
    done = [
        {"started_at": 500.0, "finished_at": 900.0},  # before the estimate: another run's
        {"started_at": 1000.0, "finished_at": 4600.0},
        {"started_at": 2000.0, "finished_at": 5800.0},  # overlaps: 4,800 s in all
    ]
    said = against_estimate(estimate_of_run(tmp_path, options), done, left_s=600.0)
    assert "1.0 h to 2.0 h (the machine was busy)" in said
    assert "1.3 h of jobs since + about 10 min left, 0.75x the estimate" in said
    other = dict(options, targets=["results/figures/fig1.pdf"])
    assert estimate_of_run(tmp_path, other) is None and estimate_of_run(tmp_path / "elsewhere") is None
    (tmp_path / "logs" / "estimate.json").write_text('{"made_at": 1000.0, "wall_s": 0}')  # not one to divide by
    assert estimate_of_run(tmp_path, options) is None
