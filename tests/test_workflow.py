"""The workflow end to end on fixture data: snakemake in a scratch directory, no network."""

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
def fixture_overlay(tmp_path):
    """A mirror with tiny MNIST and BTSC, and the config that points at it."""
    mirror = tmp_path / "mirror"
    fixtures.write_idx_dataset(mirror, "mnist")
    counts = fixtures.write_btsc(mirror)
    fixtures.write_manifest(mirror)
    overlay = {
        "mirror": str(mirror),
        "checksum_lock": str(tmp_path / "checksums.lock"),
        "datasets": ["mnist", "btsc"],
        "data": {"btsc": {"expected": counts}},
        "threads": {"prepare": 1},
    }
    workdir = tmp_path / "work"
    workdir.mkdir()
    return workdir, overlay


def test_prepares_datasets_from_a_mirror_and_then_has_nothing_to_do(
    repo_root, fixture_overlay, tmp_path
):
    workdir, overlay = fixture_overlay
    snakemake(repo_root, workdir, overlay)
    for dataset, shape in (("mnist", (60, 1, 28, 28)), ("btsc", (124, 3, 32, 32))):
        record = load_prepared(workdir / "results" / dataset / "data" / "train.pt")
        assert tuple(record["images"].shape) == shape
        assert (workdir / "logs" / dataset / "prepare.log").read_text().strip()
    assert "verified" in (
        workdir / "logs" / "mnist" / "download" / "t10k-images-idx3-ubyte.gz.log"
    ).read_text()

    again = snakemake(repo_root, workdir, overlay, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr

    # Where the verified files came from does not matter: a new mirror rebuilds nothing.
    moved = tmp_path / "moved-mirror"
    shutil.copytree(overlay["mirror"], moved)
    overlay["mirror"] = moved.as_uri()
    again = snakemake(repo_root, workdir, overlay, "-n")
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
