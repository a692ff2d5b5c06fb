"""The workflow end to end on fixture data: snakemake in a scratch directory, no network."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import fixtures
from aedefense.data.prepared import load_prepared

pytestmark = pytest.mark.workflow


def snakemake(repo_root, workdir, overlay: dict, *args, check=True):
    """Run snakemake on the repository's Snakefile in `workdir` with a config overlay."""
    config = workdir / "test-config.yaml"
    config.write_text(yaml.safe_dump(overlay))
    command = [
        sys.executable, "-m", "snakemake",
        *args,  # first: --configfile takes every word after it
        "-s", str(repo_root / "Snakefile"),
        "-d", str(workdir),
        "--cores", "2",
        "--configfile", str(config),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def fixture_overlay(repo_root, tmp_path):
    """A mirror with tiny MNIST and BTSC, and the config that points at it."""
    mirror = tmp_path / "mirror"
    fixtures.write_idx_dataset(mirror, "mnist")
    counts = fixtures.write_btsc(mirror)
    fixtures.write_manifest(mirror)
    overlay = yaml.safe_load((repo_root / "tests" / "fixture_config.yaml").read_text())
    overlay["mirror"] = str(mirror)
    overlay["checksum_lock"] = str(tmp_path / "checksums.lock")
    overlay["data"]["btsc"] = {"expected": counts}
    workdir = tmp_path / "work"
    workdir.mkdir()
    return workdir, overlay


def test_prepares_datasets_from_a_mirror_and_then_has_nothing_to_do(
    repo_root, fixture_overlay, tmp_path
):
    workdir, overlay = fixture_overlay
    prepared = [f"results/{d}/data/{s}.pt" for d in ("mnist", "btsc") for s in ("train", "test")]
    snakemake(repo_root, workdir, overlay, *prepared)
    for dataset, shape in (("mnist", (60, 1, 28, 28)), ("btsc", (124, 3, 32, 32))):
        record = load_prepared(workdir / "results" / dataset / "data" / "train.pt")
        assert tuple(record["images"].shape) == shape
        assert (workdir / "logs" / dataset / "prepare.log").read_text().strip()
    assert "verified" in (
        workdir / "logs" / "mnist" / "download" / "t10k-images-idx3-ubyte.gz.log"
    ).read_text()

    again = snakemake(repo_root, workdir, overlay, "-n", *prepared)
    assert "Nothing to be done" in again.stdout + again.stderr

    # Where the verified files came from does not matter: a new mirror rebuilds nothing.
    moved = tmp_path / "moved-mirror"
    shutil.copytree(overlay["mirror"], moved)
    overlay["mirror"] = moved.as_uri()
    again = snakemake(repo_root, workdir, overlay, "-n", *prepared)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_bad_config_stops_before_any_job(repo_root, fixture_overlay):
    workdir, overlay = fixture_overlay
    overlay["autoencoder"] = {"epoch": 3}
    overlay["figures"] = {"fig1": {"stp": [-0.1]}}
    result = snakemake(repo_root, workdir, overlay, check=False)
    assert result.returncode != 0
    assert "unknown key 'autoencoder.epoch'" in result.stderr
    assert "figures.fig1.stp[0]: -0.1 is not allowed" in result.stderr
    assert not (workdir / "resources").exists() and not (workdir / "results").exists()


def test_corrupt_download_fails_clearly_and_leaves_nothing(repo_root, fixture_overlay):
    workdir, overlay = fixture_overlay
    manifest = fixtures.write_manifest(Path(overlay["mirror"]))
    target = "mnist/train-labels-idx1-ubyte.gz"
    manifest.write_text(
        "".join(
            ("0" * 32 + f"  {target}\n") if line.endswith(target) else line + "\n"
            for line in manifest.read_text().splitlines()
        )
    )
    result = snakemake(
        repo_root, workdir, overlay, "results/mnist/data/test.pt", check=False
    )
    assert result.returncode != 0
    log = (workdir / "logs" / "mnist" / "download" / "train-labels-idx1-ubyte.gz.log").read_text()
    assert "checksum mismatch" in result.stderr + log
    assert "--config mirror=" in result.stderr
    assert not (workdir / "resources" / target).exists()
    assert not (workdir / "results" / "mnist" / "data" / "test.pt").exists()


def scheduled(result) -> list[str]:
    """The rule names of the jobs a dry run would run, one per job."""
    return re.findall(r"^rule (\w+):$", result.stdout, flags=re.MULTILINE)


def test_trains_every_model_once_and_an_override_reruns_only_its_cell(
    repo_root, fixture_overlay
):
    workdir, overlay = fixture_overlay
    snakemake(repo_root, workdir, overlay)
    results = workdir / "results" / "mnist"
    models = sorted(p.parent.name for p in results.glob("ae/*/model.pt"))
    assert models == [
        "ae_d0_stp0.2_a0", "ae_d0_stp0.2_a0.1", "ae_d0_stp0_a0", "ae_d1_stp0.2_a0",
        "vae_d0_stp0.2_a0", "vae_d0_stp0_a0", "vae_d1_stp0.2_a0",
    ]  # fmt: skip
    metrics = json.loads((results / "ae" / "vae_d1_stp0.2_a0" / "metrics.json").read_text())
    assert {"reconstruction_error", "elbo", "kl", "history"} <= set(metrics)
    assert metrics["settings"]["denoising"] is True and metrics["settings"]["stp"] == 0.2
    assert (results / "ae" / "ae_d0_stp0_a0" / "reconstructions.png").stat().st_size > 0
    classifier = json.loads((results / "classifier.metrics.json").read_text())
    assert 0 <= classifier["test_accuracy"] <= 1 and len(classifier["history"]) == 2
    log = (workdir / "logs" / "mnist" / "train_classifier.log").read_text()
    assert "epoch 2/2" in log and "test accuracy" in log

    overlay["cell_overrides"] = {"mnist/ae_d0_stp0.2_a0": {"epochs": 2}}
    plan = snakemake(repo_root, workdir, overlay, "-n")
    assert sorted(scheduled(plan)) == ["all", "train_autoencoder"]
    assert "results/mnist/ae/ae_d0_stp0.2_a0/model.pt" in plan.stdout


def test_a_cell_trained_under_another_name_is_refused(repo_root, fixture_overlay):
    workdir, overlay = fixture_overlay
    result = snakemake(
        repo_root, workdir, overlay, "-n", "results/mnist/ae/vae_d1_stp0_a0/model.pt",
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "its model is vae_d0_stp0_a0" in result.stderr
