"""Running the workflow in a scratch directory on fixture data, shared by the workflow tests."""

import json
import re
import subprocess
import sys
from pathlib import Path

import fixtures
import yaml


def snakemake_command(repo_root, workdir, overlay: dict, *args) -> list[str]:
    """The snakemake command line for the repository's Snakefile in `workdir`, with the config
    overlay written beside it."""
    config = workdir / "test-config.yaml"
    config.write_text(yaml.safe_dump(overlay))
    return [
        sys.executable,
        "-m",
        "snakemake",
        *args,  # first: --configfile takes every word after it
        "-s",
        str(repo_root / "Snakefile"),
        "-d",
        str(workdir),
        "--cores",
        "2",
        "--configfile",
        str(config),
    ]


def snakemake(repo_root, workdir, overlay: dict, *args, check=True):
    """Run snakemake to the end; fail with its output unless check is off."""
    command = snakemake_command(repo_root, workdir, overlay, *args)
    # a guard against a hang, not a speed bar: a loaded 2-core machine took over 30 minutes
    result = subprocess.run(command, capture_output=True, text=True, timeout=5400)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{result.stdout}\n{result.stderr}")
    return result


def local_rules(repo_root) -> set[str]:
    """The rules of the `localrules:` block in workflow/rules/common.smk (they never go to sbatch)."""
    text = (Path(repo_root) / "workflow" / "rules" / "common.smk").read_text()
    block = re.search(r"^localrules:\n((?:    \w+,\n)+)", text, flags=re.MULTILINE)
    return set(re.findall(r"\w+", block[1]))


def scheduled(result) -> list[str]:
    """The rule names of the jobs a dry run would run, one per job."""
    return re.findall(r"^rule (\w+):$", result.stdout, flags=re.MULTILINE)


def make_fixture_overlay(repo_root, tmp_path):
    """A mirror with tiny MNIST and BTSC, and the config that points at it."""
    mirror = tmp_path / "mirror"
    fixtures.write_idx_dataset(mirror, "mnist", n_train=200, n_test=40)
    counts = fixtures.write_btsc(mirror)
    fixtures.write_manifest(mirror)
    overlay = yaml.safe_load((repo_root / "tests" / "fixture_config.yaml").read_text())
    overlay["mirror"] = str(mirror)
    overlay["mirror_checksums"] = "mirror"  # fixture files: the mirror's MD5SUMS stands for the published ones
    overlay["checksum_lock"] = str(tmp_path / "checksums.lock")
    overlay["data"]["btsc"] = {"expected": counts}
    workdir = tmp_path / "work"
    workdir.mkdir()
    return workdir, overlay


def without_timings(value):
    """A metrics record without its wall-clock seconds, which no two runs share."""
    if isinstance(value, dict):
        return {key: without_timings(item) for key, item in value.items() if key != "seconds"}
    if isinstance(value, list):
        return [without_timings(item) for item in value]
    return value


def result_files(workdir: Path) -> dict[str, bytes]:
    """Every result but the rendered figures (PDFs carry their creation time); the
    training metrics without their timings."""
    files = {}
    for path in sorted((workdir / "results").rglob("*")):
        if not path.is_file() or path.parent.name == "figures":
            continue
        content = path.read_bytes()
        if path.suffix == ".json":
            content = json.dumps(without_timings(json.loads(content)), sort_keys=True).encode()
        files[str(path.relative_to(workdir))] = content
    return files
