"""The command-line mistakes Snakemake reports with a traceback get a sentence and the fix."""

from __future__ import annotations

import subprocess
import sys

import pytest
from workflow_helpers import snakemake_command

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


def run_aedefense(cwd, *words):
    command = [sys.executable, "-m", "aedefense.cli", *words]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "words,message",
    [
        (["--configfile", "mine.yaml"], "error: the config file mine.yaml does not exist"),
        (
            ["--config", "mirror=/m", "results/figures/fig3.pdf"],
            "e.g. aedefense results/figures/fig3.pdf --config mirror=/m",
        ),
        (
            ["--forcerun", "results/mnist/ae/ae_d0_stp0.4_a0/model.pt"],
            "--forcerun takes every word after it, so no target is left and Snakemake would build the default "
            "target, the whole grid: give the targets first, e.g. aedefense results/mnist/ae/ae_d0_stp0.4_a0/model.pt "
            "--forcerun results/mnist/ae/ae_d0_stp0.4_a0/model.pt",
        ),
        (["--until", "results/figures/fig3.pdf"], "--until takes every word after it"),
        (["results/figures/fig3.pdf", "--cors", "2"], "error: unrecognized arguments: --cors 2 (snakemake --help"),
    ],
)
def test_the_aedefense_command_refuses_a_mistake_in_a_sentence(tmp_path, words, message):
    done = run_aedefense(tmp_path, *words)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "usage:" not in done.stderr
    assert not (tmp_path / ".snakemake").exists()  # refused before Snakemake started


def test_the_aedefense_command_passes_every_word_to_snakemake(repo_root, fixture_overlay):
    workdir, overlay = fixture_overlay
    target = "results/mnist/classifier.pt"
    for words in ([target, "-n"], [target, "-n", "--forcerun", target]):
        command = snakemake_command(repo_root, workdir, overlay, *words)
        command[2] = "aedefense.cli"  # python -m aedefense.cli in place of python -m snakemake
        done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        assert "train_classifier" in done.stdout and "train_autoencoder" not in done.stdout


def test_without_cores_the_aedefense_command_gives_the_machines_own(monkeypatch, tmp_path, capsys):
    from aedefense import cli

    started = []
    monkeypatch.setattr(cli.os, "execv", lambda path, words: started.append(words))
    monkeypatch.delenv("SNAKEMAKE_PROFILE", raising=False)
    monkeypatch.chdir(tmp_path)
    cli.main(["results/figures/fig3.pdf"])
    cores = str(cli.machine_cores())
    assert started[0][-3:] == ["results/figures/fig3.pdf", "--cores", cores]
    assert started[0][0].endswith("snakemake") or started[0][1:3] == ["-m", "snakemake"]
    assert f"--cores {cores}, this machine's cores" in capsys.readouterr().err
    for chosen in (["-c", "1"], ["--jobs", "4"], ["-n"], ["--profile", "profiles/local"]):
        cli.main(["results/figures/fig3.pdf", *chosen])
        assert started[-1][-len(chosen) :] == chosen  # what the user chose, nothing added


def test_a_dry_run_beside_a_running_one_is_told_the_lock_error_is_a_warning(repo_root, fixture_overlay):
    workdir, overlay = fixture_overlay
    target = "results/mnist/classifier.pt"
    locks = workdir / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.output.lock").write_text(f"{target}\n")  # as a running Snakemake writes it
    command = snakemake_command(repo_root, workdir, overlay, target, "-n")
    command[2] = "aedefense.cli"
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600)
    # Snakemake's own line, then the plan all the same: the note before it says so
    assert "Error: Directory cannot be locked" in done.stdout + done.stderr
    assert done.returncode == 0 and "train_classifier" in done.stdout, done.stderr
    assert "another run holds this directory" in done.stderr and "for a dry run that is a warning only" in done.stderr
    assert (locks / "0.output.lock").exists()  # the other run's lock stays
    (locks / "0.output.lock").unlink()
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "another run holds" not in done.stderr
