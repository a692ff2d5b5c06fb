"""The profiles plan what they promise: few cluster submissions for the whole paper, several
GPU jobs at once on one workstation."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workflow_helpers import local_rules

pytestmark = pytest.mark.workflow

LOCAL_RULES = local_rules(Path(__file__).resolve().parents[1])  # never sent through sbatch


def dry_run(repo_root, workdir, *args) -> str:
    command = [sys.executable, "-m", "snakemake", "-n", "-s", str(repo_root / "Snakefile"), "-d", str(workdir), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def submissions(plan: str) -> tuple[int, list[str]]:
    """(group jobs, rules of the jobs submitted alone) of a dry run's plan."""
    groups = len(re.findall(r"Group job attacks", plan))
    alone = [rule for rule in re.findall(r"^rule (\w+):$", plan, flags=re.MULTILINE) if rule not in LOCAL_RULES]
    return groups, alone


def test_the_slurm_profile_sends_the_whole_paper_in_at_most_300_submissions(repo_root, tmp_path):
    plan = dry_run(repo_root, tmp_path, "--profile", str(repo_root / "profiles" / "slurm"))
    groups, alone = submissions(plan)
    total_jobs = int(re.search(r"^total\s+(\d+)$", plan, flags=re.MULTILINE)[1])
    assert total_jobs > 3000  # the whole grid was planned
    assert sorted(set(alone)) == ["prepare", "train_autoencoder", "train_classifier"]
    assert groups >= 50 and groups + len(alone) <= 300
    # a group holds adversarial sets with the jobs that read them
    first_group = plan[plan.index("Group job attacks") :].split("Group job attacks")[1]
    assert "rule attack:" in first_group and "rule evaluate:" in first_group


def test_a_training_job_asks_the_cluster_for_the_time_its_kind_of_training_takes(repo_root, tmp_path):
    """The exact contractive penalty costs about 20 plain steps: its cells ask SLURM for more
    time, found from the cell's settings, not from a pattern in its name."""
    cells = ["ae_d0_stp0.1_a0", "ae_d0_stp0.1_a0.1"]
    plan = dry_run(
        repo_root,
        tmp_path,
        "--profile",
        str(repo_root / "profiles" / "slurm"),
        *(f"results/mnist/ae/{cell}/model.pt" for cell in cells),
        "--config",
        "autoencoder={contractive: exact}",
    )
    jobs = re.findall(r"^rule train_autoencoder:$.*?defence=(\S+)$.*?runtime=(\d+)", plan, flags=re.M | re.S)
    runtime = {cell: int(minutes) for cell, minutes in jobs}
    assert runtime == {"ae_d0_stp0.1_a0": 30, "ae_d0_stp0.1_a0.1": 100}


def test_the_local_profile_shares_one_gpu_among_several_jobs(repo_root, tmp_path):
    profile = yaml.safe_load((repo_root / "profiles" / "local" / "config.v8+.yaml").read_text())
    budget = profile["resources"]["gpu_mem_mb"]
    for rule in ("attack", "evaluate", "train_autoencoder"):
        assert 0 < profile["set-resources"][rule]["gpu_mem_mb"] <= budget / 3
    assert "gpu" not in profile["resources"]  # no longer one GPU job at a time
    plan = dry_run(repo_root, tmp_path, "--profile", str(repo_root / "profiles" / "local"), "results/figures/fig3.pdf")
    attack = plan[plan.index("rule attack:") :].split("\n\n")[0]
    assert "gpu_mem_mb=3000" in attack and "threads: 2" in attack


def test_the_main_job_says_what_it_will_build_and_how_long_before_it_starts(repo_root, tmp_path):
    from workflow_helpers import make_fixture_overlay

    workdir, overlay = make_fixture_overlay(repo_root, tmp_path)
    config = workdir / "test-config.yaml"
    config.write_text(yaml.safe_dump(overlay))
    result = subprocess.run(
        [sys.executable, "-m", "aedefense.cost.estimate", "--cores", "2", "--configfile", str(config)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    built = re.search(r"This run builds (\d+) jobs for the datasets mnist:", result.stdout)
    assert built and int(built[1]) > 50
    assert re.search(r"attack \d+, ", result.stdout) and "train_autoencoder 7" in result.stdout
    assert re.search(r"Estimated wall time on this machine \(cpu, 2 cores; .*\): about \d+", result.stdout)
    assert "Quicker:" not in result.stdout  # minutes on the fixture grid: no quicker route to offer
    assert not (workdir / "results").exists()  # nothing ran
    kept = json.loads((workdir / "logs" / "estimate.json").read_text())  # for make status to compare
    printed = re.search(r"about (\d+) min", result.stdout)
    assert printed and round(kept["wall_s"] / 60) == int(printed[1]) and kept["cores"] == 2
    assert kept["options"]["configfiles"][0]["path"] == str(config.resolve()) and kept["targets"] == []
    assert 0 < kept["share"] <= 1 and kept["load"] >= 0  # how busy the machine was, beside the figure
    assert not (workdir / ".snakemake").exists()  # planned in a scratch directory: nothing left behind

    # a download that cannot be had from here: the estimate still says how long, then refuses
    (workdir / "empty-mirror").mkdir()
    refused = subprocess.run(
        [sys.executable, "-m", "aedefense.cost.estimate", "--cores", "2", "--configfile", str(config)]
        + ["--config", f"mirror={workdir / 'empty-mirror'}", "mirror_checksums=mirror"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert re.search(r"Estimated wall time on this machine .*: about \d+", refused.stdout)
    assert "This run downloads files it cannot get from here:" in refused.stderr
    assert f"mnist/train-images-idx3-ubyte.gz: not in the mirror {workdir / 'empty-mirror'}" in refused.stderr
    assert not (workdir / "results").exists()


def test_the_estimate_explains_itself_and_says_why_snakemake_would_not_plan(repo_root, tmp_path):
    def estimate(*args):
        command = [sys.executable, "-m", "aedefense.cost.estimate", *args]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)

    helped = estimate("--help")
    assert helped.returncode == 0 and "python -m aedefense.cost.estimate [--cores N]" in helped.stdout
    assert "Nothing to build" not in helped.stdout
    # Snakemake prints this refusal on stdout: it reaches the user, without a traceback
    refused = estimate("--config", "sanity={longer_attack: null}")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "snakemake could not plan the run:" in refused.stderr
    assert "sanity.longer_attack: the text 'null', not a null" in refused.stderr
