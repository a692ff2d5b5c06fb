"""make report: the run's options recorded, compared, and the report built from what exists."""

from __future__ import annotations

import json
import subprocess
import sys

from aedefense.report.build import command_line, differences, options_of, record_run, report_targets, split_options


def test_the_options_of_a_run_are_recorded_with_each_files_sha256(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    preset = tmp_path / "preset.yaml"
    preset.write_text("datasets: [mnist]\n")
    record_run([str(preset)], {"mirror": "/data/mirror"})
    recorded = json.loads((tmp_path / "logs" / "run_settings.json").read_text())
    assert recorded["configfiles"][0]["path"] == str(preset)
    assert len(recorded["configfiles"][0]["sha256"]) == 64
    assert recorded["config"] == {"mirror": "/data/mirror"}
    assert command_line(recorded) == f"--configfile {preset} --config mirror=/data/mirror"


def test_each_difference_is_named(tmp_path):
    preset, other = tmp_path / "preset.yaml", tmp_path / "other.yaml"
    preset.write_text("datasets: [mnist]\n")
    other.write_text("datasets: [btsc]\n")
    run = options_of([preset], {"mirror": "/m"})
    assert differences(run, options_of([preset], {"mirror": "/m"})) == []
    found = differences(run, options_of([other], {}))
    assert found[0].startswith("config files: the run used [") and str(other) in found[0]
    assert found[1] == "--config mirror: the run used '/m', this report None"
    preset.write_text("datasets: [fashion-mnist]\n")
    assert differences(run, options_of([preset], {"mirror": "/m"})) == [
        f"{preset} was edited after the run (its sha256 differs)"
    ]


def test_the_options_are_read_from_a_snakemake_command_line():
    argv = ["--configfile", "a.yaml", "b.yaml", "--config", "mirror=/m", "datasets=[mnist]", "--cores", "2"]
    assert split_options(argv) == (["a.yaml", "b.yaml"], ["mirror=/m", "datasets=[mnist]"])


def test_the_report_shows_every_figure_and_table_the_run_wrote(tmp_path):
    for name in ("results/figures/fig3.pdf", "results/figures/fig3.png", "results/tables/claims.csv"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert report_targets(tmp_path) == ["results/figures/fig3.pdf", "results/tables/claims.csv"]


def run_build(cwd, *argv):
    return subprocess.run(
        [sys.executable, "-m", "aedefense.report.build", *argv], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_a_report_without_a_run_or_with_other_options_is_refused_with_the_fix(tmp_path):
    done = run_build(tmp_path)
    assert done.returncode == 2 and "no run was recorded in ." in done.stderr and "Traceback" not in done.stderr
    preset = tmp_path / "quick.yaml"
    preset.write_text("datasets: [mnist]\n")
    record_run([str(preset)], {}, dest=tmp_path / "logs" / "run_settings.json")
    done = run_build(tmp_path, "--config", "mirror=/elsewhere")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--config mirror: the run used None, this report '/elsewhere'" in done.stderr
    assert f"Build it with the run's: make report ARGS='--configfile {preset}'" in done.stderr
