"""The workflow through a real SLURM cluster: profiles/slurm drives sbatch on a single-node
cluster started on this machine from Debian's packages (tests/slurm/start-local-cluster.sh).

Skips, with the reason, only where such a cluster cannot be started: not root, or no apt-get.
"""

import datetime
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import yaml
from workflow_helpers import local_rules, make_fixture_overlay, result_files, scheduled, snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]

LOCAL_RULES = local_rules(Path(__file__).resolve().parents[1])  # never sent through sbatch
# What a cluster without GPUs cannot grant; the rest of the profile is used as written.
GPU_REQUESTS = {"gpu", "gpu_model", "slurm_partition"}


@pytest.fixture(scope="module")
def slurm_cluster(repo_root) -> dict:
    """A private SLURM cluster on this machine for this module's tests, stopped afterwards.
    Opt-in (it may install packages and starts daemons): AEDEFENSE_SLURM_TEST=1, which
    `make test-slurm` and CI set."""
    if os.environ.get("AEDEFENSE_SLURM_TEST") != "1":
        pytest.skip("the real-SLURM test is opt-in: AEDEFENSE_SLURM_TEST=1 (make test-slurm)")
    if os.geteuid() != 0:
        pytest.skip("a local SLURM cluster needs root (daemons under the slurm, munge and mysql users)")
    if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
        pytest.skip("no apt-get to install SLURM from Debian's packages, and no SLURM")
    scripts = repo_root / "tests" / "slurm"
    result = subprocess.run(
        ["bash", str(scripts / "start-local-cluster.sh")], capture_output=True, text=True, timeout=900
    )
    if result.returncode != 0:
        subprocess.run(["bash", str(scripts / "stop-local-cluster.sh")], capture_output=True, timeout=120)
    assert result.returncode == 0, f"the local SLURM cluster did not start:\n{result.stderr[-4000:]}"
    cluster = dict(line.split("=", 1) for line in result.stdout.split())
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = cluster["SLURM_CONF"]  # for sbatch, sacct and the plugin
    try:
        yield cluster
    finally:
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
        stopped = subprocess.run(
            ["bash", str(scripts / "stop-local-cluster.sh")], capture_output=True, text=True, timeout=120
        )
        assert stopped.returncode == 0, stopped.stderr


def slurm_test_profile(repo_root, cluster: dict, destination: Path) -> Path:
    """profiles/slurm with the test cluster's partition and account, without GPU requests,
    and with the short waits a small cluster allows."""
    profile = yaml.safe_load((repo_root / "profiles" / "slurm" / "config.v8+.yaml").read_text())
    profile["default-resources"]["slurm_account"] = cluster["SLURM_ACCOUNT"]
    profile["default-resources"]["slurm_partition"] = cluster["SLURM_PARTITION"]
    for resources in profile["set-resources"].values():
        for key in GPU_REQUESTS & set(resources):
            del resources[key]
    # a group job asks for the threads of the widest layer it runs: no more than the node has
    profile["cores"] = min(profile["cores"], int(cluster["SLURM_CPUS"]))
    profile.update(
        {  # jobs as in the profile: SLURM queues what the node cannot run yet
            "retries": 0,
            "latency-wait": 5,
            "slurm-init-seconds-before-status-checks": 2,
        }
    )
    destination.mkdir(parents=True)
    (destination / "config.v8+.yaml").write_text(yaml.safe_dump(profile))
    return destination


def sacct_jobs(since: str) -> list[dict]:
    result = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-a", "-S", since, "--format=JobID,JobName,Comment,State"],
        capture_output=True,
        text=True,
        check=True,
    )
    fields = ("id", "name", "comment", "state")
    return [dict(zip(fields, line.split("|"))) for line in result.stdout.splitlines() if line]


def test_the_workflow_runs_through_slurm_like_it_runs_locally(repo_root, slurm_cluster, tmp_path):
    workdir, overlay = make_fixture_overlay(repo_root, tmp_path)
    overlay["sanity"] = {"longer_attack": None}  # fewer jobs: each costs SLURM's polling
    target = "results/figures/fig3.pdf"
    compute_jobs = Counter(
        rule for rule in scheduled(snakemake(repo_root, workdir, overlay, "-n", target)) if rule not in LOCAL_RULES
    )
    assert compute_jobs["train_autoencoder"] == 1 and compute_jobs["attack"] == 6

    # sacct's -S has a one-second resolution: start a second early
    since = (datetime.datetime.now() - datetime.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    profile = slurm_test_profile(repo_root, slurm_cluster, tmp_path / "profile")
    snakemake(repo_root, workdir, overlay, target, "--profile", str(profile))

    # Every compute job ran through SLURM in a job of this run that completed: training and
    # preparation alone, named by their rule in the comment the plugin sets; attacks,
    # evaluations and latent analyses in grouped jobs (named by their group's id). No local
    # rule went through SLURM.
    records = [job for job in sacct_jobs(since) if job["comment"].startswith("rule_")]
    names = Counter(re.match(r"rule_(.+?)(?:_wildcards_|$)", job["comment"])[1] for job in records)
    grouped = set(yaml.safe_load((repo_root / "profiles" / "slurm" / "config.v8+.yaml").read_text())["groups"])
    alone = {rule: count for rule, count in compute_jobs.items() if rule not in grouped}
    assert {name: count for name, count in names.items() if name in compute_jobs} == alone, records
    group_jobs = sum(count for name, count in names.items() if name not in compute_jobs)
    grouped_jobs = sum(count for rule, count in compute_jobs.items() if rule in grouped)
    assert 1 <= group_jobs < grouped_jobs, records  # several jobs per submission
    assert {job["state"] for job in records} == {"COMPLETED"}
    assert len({job["name"] for job in records}) == 1  # one snakemake run
    assert (workdir / "logs" / "slurm").is_dir()  # the profile's log directory

    # The same target run locally from scratch gives the same bytes.
    local_workdir = tmp_path / "local"
    local_workdir.mkdir()
    snakemake(repo_root, local_workdir, overlay, target)
    through_slurm, local = result_files(workdir), result_files(local_workdir)
    assert through_slurm.keys() == local.keys() and len(local) > 20
    differing = [name for name in local if local[name] != through_slurm[name]]
    assert differing == []


@pytest.mark.skipif(os.geteuid() != 0, reason="the start script runs as root only")
def test_the_test_cluster_refuses_a_machine_with_a_slurm_of_its_own(repo_root, tmp_path):
    script = repo_root / "tests" / "slurm" / "start-local-cluster.sh"
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=production\n")
    environment = {**os.environ, "AEDEFENSE_SLURM_SYSTEM_CONF": str(conf)}
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=environment, timeout=60)
    assert result.returncode != 0 and f"{conf} exists: this machine has a SLURM configuration" in result.stderr
    assert result.stdout == ""

    # a SLURM daemon that the test did not start: a process of that name (a copy of sleep)
    daemon = tmp_path / "slurmctld"
    shutil.copy(shutil.which("sleep"), daemon)
    process = subprocess.Popen([str(daemon), "60"])
    try:
        environment["AEDEFENSE_SLURM_SYSTEM_CONF"] = str(tmp_path / "absent.conf")
        result = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=environment, timeout=60)
    finally:
        process.kill()
        process.wait()
    assert result.returncode != 0
    assert f"a slurmctld (pid {process.pid}) that this test did not start is running" in result.stderr
