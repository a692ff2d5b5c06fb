"""The study scripts measure what they say (studies/)."""

import csv
import importlib.util
import json
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def load_study(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "studies" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class GreyReconstruction(torch.nn.Module):
    """A stand-in autoencoder that lifts every image to a grey background: b + (1 - b) x."""

    def __init__(self, level):
        super().__init__()
        self.level = level

    def forward(self, x, scale=0.0, generator=None):
        return self.level + (1 - self.level) * x


class BrightnessClassifier(torch.nn.Module):
    """Class 1 where the mean pixel is above 0.3, else class 0."""

    def forward(self, x):
        bright = (x.flatten(1).mean(1) > 0.3).float()
        return torch.stack([1 - bright, bright], 1)


def test_the_vae_study_measures_the_background_and_what_removing_it_recovers():
    vae_limits = load_study("vae_limits")
    torch.manual_seed(0)
    images = torch.zeros(40, 1, 8, 8)
    images[:20, :, 2:6, 2:6] = 1.0  # dim: 16 of 64 pixels lit, mean 0.25 -> class 0
    images[20:, :, 1:7, 1:7] = 1.0  # bright: 36 of 64 lit, mean 0.56 -> class 1
    labels = torch.tensor([0] * 20 + [1] * 20)
    measured = vae_limits.measure(BrightnessClassifier(), GreyReconstruction(0.2), images, labels, draws=2)
    assert measured["background"] == pytest.approx(0.2)
    # lifted to grey, the dim images read as bright: half the images are misclassified
    assert measured["accuracy_mean"] == measured["classifier_on_grey"] == 0.5
    assert measured["accuracy_scale1"] == 0.5
    assert measured["accuracy_background_removed"] == 1.0  # the clean images again


def write_cell(run, cell, contractive, penalty, accuracies, seconds=(10.0, 12.0), epochs=2):
    """A trained and evaluated cell as the workflow writes it: metrics.json and eval tables."""
    folder = run / "results" / "mnist" / "ae" / cell
    (folder / "eval").mkdir(parents=True)
    history = [{"epoch": i + 1, "seconds": s} for i, s in enumerate(seconds)]
    metrics = {
        "contractive_exact": penalty,
        "history": history,
        "settings": {"contractive": contractive, "epochs": epochs, "seed": 0},
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))
    for (attack, eps), (accuracy, low, high) in accuracies.items():
        name = "clean_eps0.csv" if attack == "clean" else f"{attack}_eps{eps:g}.csv"
        row = {"attack": attack, "eps": eps, "scale": 1.0, "n_images": 1000}
        row.update(accuracy_mean=accuracy, accuracy_ci_low=low, accuracy_ci_high=high)
        with open(folder / "eval" / name, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(row))
            writer.writeheader()
            writer.writerow(row)


def test_the_contractive_study_sets_the_two_runs_side_by_side_and_refuses_a_mixed_up_run(tmp_path, capsys):
    study = load_study("contractive_estimate")
    exact, projection = tmp_path / "exact", tmp_path / "projection"
    write_cell(
        exact, "ae_d0_stp0.1_a1", "exact", 0.5, {("clean", 0): (0.95, 0.94, 0.96), ("cw", 0.1): (0.7, 0.67, 0.73)}
    )
    write_cell(
        projection,
        "ae_d0_stp0.1_a1",
        "projection",
        0.8,
        {("clean", 0): (0.95, 0.94, 0.96), ("cw", 0.1): (0.6, 0.57, 0.63)},
    )
    out = tmp_path / "compare.csv"
    study.main(
        ["--exact", str(exact), "--projection", str(projection), "--cells", "ae_d0_stp0.1_a1", "--out", str(out)]
    )
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 2 * (2 + 2)  # per estimator: the penalty, the training time, clean and one eps
    seconds = {r["estimator"]: float(r["value"]) for r in rows if r["measure"] == "training_seconds"}
    assert seconds == {"exact": 22.0, "projection": 22.0}
    said = capsys.readouterr().out
    assert "ae_d0_stp0.1_a1 contractive_exact: exact 0.5, projection 0.8" in said
    assert "accuracy cw eps 0.1 scale 1: exact 0.7, projection 0.6 (intervals apart)" in said
    assert "accuracy clean eps 0 scale 1: exact 0.95, projection 0.95 (intervals overlap)" in said
    with pytest.raises(SystemExit, match="trained with contractive: projection, but .* is given as the exact run"):
        study.main(
            ["--exact", str(projection), "--projection", str(exact), "--cells", "ae_d0_stp0.1_a1", "--out", str(out)]
        )
    longer = tmp_path / "longer"
    accuracies = {("clean", 0): (0.95, 0.94, 0.96), ("cw", 0.1): (0.7, 0.67, 0.73)}
    write_cell(longer, "ae_d0_stp0.1_a1", "exact", 0.4, accuracies, epochs=3)
    with pytest.raises(SystemExit, match=r"trained differently in the two runs \(epochs: exact 3, projection 2\)"):
        study.main(
            ["--exact", str(longer), "--projection", str(projection), "--cells", "ae_d0_stp0.1_a1", "--out", str(out)]
        )
