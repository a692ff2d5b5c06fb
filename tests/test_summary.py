"""The run's summary in the terminal: what was built, and the accuracy by curve and eps."""

import os
import time

import pandas as pd

from aedefense.report.summary import accuracy_grid, run_summary


def test_the_summary_lists_what_the_run_wrote_and_the_accuracy_grid(tmp_path):
    tables, figures = tmp_path / "results" / "tables", tmp_path / "results" / "figures"
    tables.mkdir(parents=True)
    figures.mkdir()
    old = tables / "accuracy_fig1.csv"
    pd.DataFrame({"cell": ["none"], "eps": [0.1], "accuracy_mean": [0.5]}).to_csv(old, index=False)
    os.utime(old, (0, 0))  # written by an earlier run
    started = time.time()
    rows = []
    for replicate, shift in enumerate((0.0, 0.02)):
        rows += [
            {"dataset": "mnist", "cell": "none", "attack": "clean", "scale": 0.0, "eps": 0.0},
            {"dataset": "mnist", "cell": "none", "attack": "cw", "scale": 0.0, "eps": 0.1},
            {"dataset": "mnist", "cell": "none", "attack": "cw", "scale": 0.0, "eps": 0.3},
        ]
        for row, accuracy in zip(rows[-3:], (0.98, 0.5 + shift, 0.1 + shift)):
            row.update(accuracy_mean=accuracy, replicate=replicate, n_images=1000)
    pd.DataFrame(rows).to_csv(tables / "accuracy_fig3.csv", index=False)
    (figures / "fig3.pdf").write_bytes(b"%PDF")
    text = run_summary(started, tmp_path)
    assert "figure results/figures/fig3.pdf" in text and "accuracy_fig1" not in text
    grid = accuracy_grid(tables / "accuracy_fig3.csv")
    assert "(1000 images, mean of 2 training seeds)" in grid
    (line,) = [line for line in grid.splitlines() if "none" in line]
    assert line.split()[-3:] == ["98.0", "51.0", "11.0"]  # clean, eps 0.1, eps 0.3
    assert run_summary(time.time() + 60, tmp_path) == ""  # nothing written since


def test_a_long_job_logs_where_it_is_and_about_how_long_is_left():
    from aedefense.jobs.runtime import Progress, about

    assert [about(40), about(720), about(9000), about(float("nan"))] == [
        "about 40 s",
        "about 12 min",
        "about 2.5 h",
        "unknown time",
    ]
    lines = []
    progress = Progress("attacked images", log=lines.append)
    progress.started -= 30  # 30 s ago
    progress(250, 1000)
    assert lines[0].startswith("attacked images 250/1000, 30 s so far, about")
    assert lines[0].endswith("min left") and "about 90 s" not in lines[0]  # 90 s left, said in minutes
