"""The study scripts measure what they say (studies/)."""

import csv
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from aedefense.core.box import AttackResult
from aedefense.jobs.adversarial import save_adversarial_set

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


def write_adversarial_set(run, cell, eps, fooled):
    """The cell's CW set at eps as the attack job writes it; fooled: which images it fooled."""
    folder = run / "results" / "mnist" / "ae" / cell / "adv"
    folder.mkdir(parents=True, exist_ok=True)
    fooled = torch.tensor(fooled)
    n = len(fooled)
    result = AttackResult(torch.zeros(n, 1, 2, 2), fooled, torch.where(fooled, 3, -1), torch.zeros(n), torch.zeros(n))
    save_adversarial_set(
        folder / f"cw_eps{eps:g}.pt",
        identity={"dataset": "mnist", "cell": cell, "attack": "cw", "eps": eps, "scale": None},
        settings={"name": "cw"},
        indices=torch.arange(n),
        labels=torch.zeros(n, dtype=torch.long),
        result=result,
    )


def test_the_contractive_study_pairs_the_two_models_on_the_same_images(tmp_path, capsys):
    """Paired difference, its standard error and sign test from the images one model lost
    and the other held; the other-seed run is the yardstick, and only another seed passes."""
    study = load_study("contractive_estimate")
    accuracies = {("clean", 0): (0.95, 0.94, 0.96), ("cw", 0.1): (0.7, 0.67, 0.73)}
    runs = {}
    # 8 images: exact loses images 0-3, projection loses 0 and 4, the other seed loses 0-1
    for name, contractive, seed, fooled in [
        ("exact", "exact", 0, [1, 1, 1, 1, 0, 0, 0, 0]),
        ("projection", "projection", 0, [1, 0, 0, 0, 1, 0, 0, 0]),
        ("other", "projection", 1, [1, 1, 0, 0, 0, 0, 0, 0]),
    ]:
        runs[name] = tmp_path / name
        write_cell(runs[name], "ae_d0_stp0.1_a1", contractive, 0.5, accuracies)
        metrics_file = runs[name] / "results" / "mnist" / "ae" / "ae_d0_stp0.1_a1" / "metrics.json"
        metrics = json.loads(metrics_file.read_text())
        metrics["settings"]["seed"] = seed
        metrics_file.write_text(json.dumps(metrics))
        write_adversarial_set(runs[name], "ae_d0_stp0.1_a1", 0.1, [bool(f) for f in fooled])
    out = tmp_path / "compare.csv"
    args = ["--exact", str(runs["exact"]), "--projection", str(runs["projection"]), "--cells", "ae_d0_stp0.1_a1"]
    study.main([*args, "--other-seed", str(runs["other"]), "--out", str(out)])
    rows = list(csv.DictReader(open(out)))
    paired = {r["comparison"]: r for r in rows if r["measure"] == "paired_difference"}
    penalties = {r["estimator"] for r in rows if r["measure"] == "contractive_exact"}
    assert penalties == {"exact", "projection", "projection, seed 1"}
    # exact holds 4 of 8, projection 6: +2/8; lost by exact only: images 1-3, by projection only: 4
    assert float(paired["projection - exact"]["value"]) == pytest.approx(0.25)
    d = [0, 1, 1, 1, -1, 0, 0, 0]  # per image: held by projection minus held by exact
    se = float(torch.tensor(d, dtype=torch.float64).std() / 8**0.5)
    assert float(paired["projection - exact"]["se"]) == pytest.approx(se)
    assert float(paired["projection - exact"]["p_value"]) == pytest.approx(2 * (1 + 4) / 16)  # 1 of 4 discordant
    assert (
        paired["projection - exact"]["lost_by_first_only"],
        paired["projection - exact"]["lost_by_second_only"],
    ) == ("3", "1")
    # the other seed loses image 1 where the projection run lost image 4: no difference
    assert float(paired["other seed - projection"]["value"]) == 0.0
    assert float(paired["other seed - projection"]["p_value"]) == 1.0
    assert "ae_d0_stp0.1_a1 projection - exact cw eps 0.1: +25.0" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="is no other seed of the projection run .*the seed, 0, is the same"):
        study.main([*args, "--other-seed", str(runs["projection"]), "--out", str(out)])


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
    with pytest.raises(SystemExit, match="share no cw adversarial sets: build them first"):
        study.main(
            ["--exact", str(exact), "--projection", str(projection), "--cells", "ae_d0_stp0.1_a1", "--out", str(out)]
        )
    for run in (exact, projection):
        write_adversarial_set(run, "ae_d0_stp0.1_a1", 0.1, [False, True])
    study.main(
        ["--exact", str(exact), "--projection", str(projection), "--cells", "ae_d0_stp0.1_a1", "--out", str(out)]
    )
    rows = list(csv.DictReader(open(out)))
    # per estimator: the penalty, the training time, clean and one eps; and one paired row
    assert len(rows) == 2 * (2 + 2) + 1
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


def test_the_seed_spread_study_pools_the_variance_of_each_kind_of_model(tmp_path, capsys):
    import math

    import pandas as pd

    study = load_study("seed_spread")
    rows = []
    # two cells at two eps, three seeds each: the seed std is known by construction
    for cell, family, scale, accuracies in [
        ("none", "none", 0.0, {0.1: [0.50, 0.52, 0.54], 0.3: [0.10, 0.10, 0.10]}),
        ("vae_d1_stp0.4_a0", "vae", 1.0, {0.1: [0.70, 0.80, 0.90], 0.3: [0.30, 0.32, 0.34]}),
    ]:
        for eps, values in accuracies.items():
            for replicate, accuracy in enumerate(values):
                rows.append(
                    {
                        "dataset": "mnist",
                        "cell": cell,
                        "family": family,
                        "attack": "cw",
                        "scale": scale,
                        "eps": eps,
                        "replicate": replicate,
                        "n_images": 1000,
                        "accuracy_mean": accuracy,
                    }
                )
    table = tmp_path / "accuracy.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    out = tmp_path / "spread.csv"
    assert study.main([str(table), "--out", str(out)]) == 0
    spread = pd.read_csv(out).set_index(["cell", "eps"])
    assert spread.loc[("vae_d1_stp0.4_a0", 0.1), "accuracy_seed_std"] == pytest.approx(0.1)
    assert spread.loc[("none", 0.3), "accuracy_seed_std"] == pytest.approx(0.0)
    assert spread.loc[("none", 0.1), "image_se"] == pytest.approx(math.sqrt(0.52 * 0.48 / 1000))
    pooled = study.pooled(pd.read_csv(out)).set_index("kind")
    assert pooled.loc["sampling autoencoder", "pooled_seed_std"] == pytest.approx(math.sqrt((0.1**2 + 0.02**2) / 2))
    assert pooled.loc["undefended", "pooled_seed_std"] == pytest.approx(math.sqrt(0.02**2 / 2))
    assert "sampling autoencoder" in capsys.readouterr().out
