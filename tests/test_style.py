"""The workflow's own hygiene: formatted Snakemake and Python files, clean lints, envs in step."""

import re
import subprocess
import sys
import tomllib

import yaml


def test_snakefmt_check(repo_root):
    result = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "."],
        cwd=repo_root,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_python_is_formatted_and_lint_clean(repo_root):
    """ruff, configured in pyproject.toml: `ruff format .` and `ruff check --fix .` mend most of it."""
    for command in (["format", "--check", "."], ["check", "."]):
        result = subprocess.run([sys.executable, "-m", "ruff", *command], cwd=repo_root, capture_output=True, text=True)
        assert result.returncode == 0, f"ruff {' '.join(command)}:\n{result.stdout}{result.stderr}"


def test_snakemake_lint_is_clean(repo_root):
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "-s", str(repo_root / "Snakefile")],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ ]", requirement, maxsplit=1)[0].lower()


def test_conda_env_matches_pyproject(repo_root):
    """Every library the jobs import is in envs/aedefense.yaml with pyproject's bounds."""
    with open(repo_root / "pyproject.toml", "rb") as handle:
        declared = tomllib.load(handle)["project"]["dependencies"]
    # snakemake and its SLURM plugin drive the jobs; they are not imported inside them
    driver_only = {"snakemake", "snakemake-executor-plugin-slurm"}
    wanted = {_name(r): r.replace(" ", "") for r in declared if _name(r) not in driver_only}
    env = yaml.safe_load((repo_root / "envs" / "aedefense.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_name(r): r.replace(" ", "") for r in pip}
    assert listed == wanted


def test_the_declared_python_is_the_one_snakemake_and_ruff_assume(repo_root):
    """pyproject's requires-python is what Snakemake needs (it cannot be lower), ruff checks
    the code against it, and envs/aedefense.yaml installs it."""
    from importlib.metadata import metadata

    from packaging.specifiers import SpecifierSet

    with open(repo_root / "pyproject.toml", "rb") as handle:
        project = tomllib.load(handle)
    declared = SpecifierSet(project["project"]["requires-python"])
    lowest = re.search(r">=\s*3\.(\d+)", str(declared))
    assert lowest, f"requires-python {declared} names no lowest 3.x"
    minor = int(lowest[1])
    snakemake_needs = SpecifierSet(metadata("snakemake")["Requires-Python"])
    assert f"3.{minor}" in snakemake_needs, f"Snakemake needs {snakemake_needs}; pyproject declares {declared}"
    assert project["tool"]["ruff"]["target-version"] == f"py3{minor}"
    assert sys.version_info[:2] >= (3, minor)
    conda = yaml.safe_load((repo_root / "envs" / "aedefense.yaml").read_text())
    assert f"python=3.{minor}" in conda["dependencies"]
