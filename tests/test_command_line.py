"""The command-line mistakes Snakemake reports with a traceback get a sentence and the fix."""

from __future__ import annotations

import subprocess
import sys

from aedefense.plan.command_line import command_line_problems


def test_a_target_after_config_is_named_with_the_command_in_the_right_order():
    problems = command_line_problems(["--cores", "2", "--config", "mirror=/m", "results/figures/fig3.pdf"])
    assert problems == [
        "--config takes every word after it, and 'results/figures/fig3.pdf' is not name=value: a target goes "
        "before the options, e.g. snakemake results/figures/fig3.pdf --cores 2 --config mirror=/m"
    ]
    assert command_line_problems(["results/figures/fig3.pdf", "--config", "mirror=/m", "datasets=[mnist]"]) == []


def test_a_missing_config_file_is_named_where_it_was_looked_for(tmp_path):
    (tmp_path / "there.yaml").write_text("datasets: [mnist]\n")
    assert command_line_problems(["--configfile", "there.yaml"], cwd=tmp_path) == []
    (problem,) = command_line_problems(["--configfile", "mine.yaml"], cwd=tmp_path)
    assert problem.startswith(f"the config file mine.yaml does not exist (looked for in {tmp_path.resolve()})")


def test_the_estimate_says_it_without_a_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "aedefense.cost.estimate", "--configfile", "mine.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "error: the config file mine.yaml does not exist" in done.stderr
    assert not (tmp_path / ".snakemake").exists()
