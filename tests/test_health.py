"""The evaluation-health checks, each on a defence made to fail it and on one that passes."""

import pytest
import torch

from aedefense.core import attacks
from aedefense.report import health

APGD = {"method": "apgd", "loss": "ce", "steps": 20, "restarts": 1, "rho": 0.75, "batch_size": 64, "name": "apgdce"}
SQUARE = {"method": "square", "queries": 300, "p_init": 0.8, "restarts": 1, "batch_size": 64, "name": "square"}


class Quantised(torch.nn.Module):
    """A purifier that rounds every pixel to `levels` grey levels, then the classifier: its
    input gradient is zero almost everywhere."""

    def __init__(self, model, levels=2):
        super().__init__()
        self.model, self.levels = model, levels

    def forward(self, x):
        return self.model(torch.round(x * (self.levels - 1)) / (self.levels - 1))


def suite_record(model, x, y, eps, protocol):
    generator = torch.Generator().manual_seed(0)
    settings = {"method": "suite", "eps": eps, "protocol": protocol}
    result = attacks.run_attack(model, x, y, settings, generator)
    return {"settings": settings, "success": result.success, "success_step": result.success_step, "part": result.part}


def test_a_quantiser_has_zero_gradients_and_square_beats_the_white_box_attacks(trained):
    model, x, y = trained
    quantised = Quantised(model).eval()
    assert health.zero_gradients(quantised, x, y, threshold=0.01)["verdict"] == health.FAIL
    assert health.zero_gradients(model, x, y, threshold=0.01)["verdict"] == health.PASS
    protocol = [APGD, SQUARE]
    masked = health.gradient_free_within_white_box({0.3: suite_record(quantised, x, y, 0.3, protocol)})
    assert masked["verdict"] == health.FAIL and masked["measured"] > masked["threshold"]
    assert "fooled by Square only" in masked["detail"] and "gradient masking" in masked["detail"]
    honest = health.gradient_free_within_white_box({0.1: suite_record(model, x, y, 0.1, protocol)})
    assert honest["verdict"] == health.PASS
    rand = health.gradient_free_within_white_box({0.1: suite_record(model, x, y, 0.1, [APGD])})
    assert rand["verdict"] == health.NOT_APPLICABLE


def test_a_sampling_defence_attacked_without_eot_fails_the_randomness_check(trained):
    model, x, y = trained

    class NoisyInput(torch.nn.Module):
        """A randomised purifier: Gaussian noise on the image, then the classifier."""

        def __init__(self):
            super().__init__()
            self.generator = torch.Generator()

        def forward(self, images):
            return model((images + 0.5 * torch.randn(images.shape, generator=self.generator)).clamp(0, 1))

    def predictions(defence):
        def at_seed(seed):
            if hasattr(defence, "generator"):
                defence.generator.manual_seed(seed)
            with torch.no_grad():
                return defence(x).argmax(1)

        return at_seed

    noisy = NoisyInput()
    without = health.randomness_attacked_with_eot(predictions(noisy), attacked_with_eot=False)
    assert without["verdict"] == health.FAIL and without["measured"] > 0
    assert "attacked without EOT" in without["detail"]
    assert health.randomness_attacked_with_eot(predictions(noisy), attacked_with_eot=True)["verdict"] == health.PASS
    deterministic = health.randomness_attacked_with_eot(predictions(model), attacked_with_eot=False)
    assert deterministic["verdict"] == health.PASS and deterministic["measured"] == 0


def test_an_attack_stopped_after_a_few_steps_has_not_converged(trained):
    model, x, y = trained

    def record(steps):
        settings = dict(APGD, steps=steps, eps=0.07)
        result = attacks.run_attack(model, x, y, settings, torch.Generator().manual_seed(0))
        return {"settings": settings, "success": result.success, "success_step": result.success_step}

    short = record(10)
    # images first fooled at step 10 (> 9) of 10, counted apart; how many is the CPU's to say
    # (training differs across CPUs), so the count is taken from the record, not written down
    late = int((short["success"] & (short["success_step"] == 10)).sum())
    assert late >= 2  # enough for the check to call a trend
    stopped = health.attack_converged({0.07: short}, threshold=0.01)
    assert stopped["verdict"] == health.WARN and f"{late} of 64 images" in stopped["detail"]
    assert "in the last 10% of its 10 steps" in stopped["detail"]
    assert stopped["measured"] == late / 64
    converged = health.attack_converged({0.07: record(100)}, threshold=0.01)
    assert converged["verdict"] == health.PASS, converged["detail"]


def test_an_attack_that_cannot_break_a_defence_without_a_budget_fails(trained):
    model, x, y = trained
    generator = torch.Generator().manual_seed(0)
    broken = attacks.run_attack(model, x, y, dict(APGD, eps=1.0), generator)
    accuracy = float((~broken.success).float().mean())
    assert health.unbounded_attack_breaks(accuracy, 1.0, 0.01)["verdict"] == health.PASS
    # a defence that answers one class whatever it is shown keeps that class's images
    with torch.no_grad():
        constant = model(torch.zeros_like(x[:1])).argmax(1)
    kept = float((y == constant).float().mean())
    failed = health.unbounded_attack_breaks(kept, 1.0, 0.01)
    assert kept > 0.01 and failed["verdict"] == health.FAIL and "not working on it" in failed["detail"]


def test_a_longer_attack_that_leaves_less_accuracy_fails():
    failed = health.longer_attack_does_not_raise_accuracy({"figure_attack": 0.3, "longer_attack": 0.6}, n=100)
    assert failed["verdict"] == health.FAIL and "stopped too early" in failed["detail"]
    passed = health.longer_attack_does_not_raise_accuracy({"figure_attack": 0.3, "longer_attack": 0.28}, n=100)
    assert passed["verdict"] == health.PASS
    assert health.longer_attack_does_not_raise_accuracy(None, n=100)["verdict"] == health.NOT_APPLICABLE


def test_a_transfer_attack_that_beats_the_white_box_attack_fails():
    white_box = {0.1: 0.9, 0.2: 0.8}
    failed = health.transfer_within_white_box(white_box, {0.1: 0.88, 0.2: 0.3}, n=100)
    assert failed["verdict"] == health.FAIL and "at eps 0.2: 0.3000 under the transferred sets" in failed["detail"]
    assert health.transfer_within_white_box(white_box, {0.1: 0.95, 0.2: 0.85}, n=100)["verdict"] == health.PASS
    assert health.transfer_within_white_box(white_box, {0.1: 0.85, 0.2: 0.75}, n=100)["verdict"] == health.PASS


@pytest.mark.parametrize(
    "accuracies,verdict",
    [({0.1: 0.8, 0.2: 0.5, 0.3: 0.2}, health.PASS), ({0.1: 0.2, 0.2: 0.8, 0.3: 0.1}, health.FAIL)],
)
def test_accuracy_must_not_rise_with_eps(accuracies, verdict):
    result = health.accuracy_does_not_rise_with_eps(accuracies, n=100)
    assert result["verdict"] == verdict
    if verdict == health.FAIL:
        assert "rises from 0.2000 at eps 0.1 to 0.8000 at eps 0.2" in result["detail"]


@pytest.mark.workflow
def test_health_rows_of_a_cell_and_what_a_one_cell_override_reruns(repo_root, fixture_overlay):
    from workflow_helpers import scheduled, snakemake

    workdir, overlay = fixture_overlay
    overlay["sanity"] = {"longer_attack": None}
    cell = "results/mnist/ae/vae_d1_stp0.2_a0/health/s1.csv"
    snakemake(repo_root, workdir, overlay, "results/mnist/ae/none/health/s0.csv", cell)
    import pandas as pd

    rows = pd.read_csv(workdir / cell, keep_default_na=False)
    assert list(rows["check"]) == [
        "unbounded_attack_breaks",
        "accuracy_does_not_rise_with_eps",
        "longer_attack_does_not_raise_accuracy",
        "gradient_free_within_white_box",
        "transfer_within_white_box",
        "randomness_attacked_with_eot",
        "zero_gradients",
        "attack_converged",
    ]
    assert set(rows["verdict"]) <= {"pass", "warn", "fail", "not applicable"}
    # the VAE at scale 1 samples: the rand protocol (EOT), which has no gradient-free attack
    assert rows.set_index("check").loc["gradient_free_within_white_box", "verdict"] == "not applicable"
    undefended = pd.read_csv(workdir / "results/mnist/ae/none/health/s0.csv", keep_default_na=False)
    assert undefended.set_index("check").loc["unbounded_attack_breaks", "verdict"] == "pass"

    # the whole table: one health job per grid point of the accuracy figures and the classifier
    plan = snakemake(repo_root, workdir, overlay, "-n", "results/tables/health.csv")
    assert scheduled(plan).count("health") == 9 - 2  # two are built above
    # the suite figure: CW, PGD and the suite on the 7 cells of Figs. 1, 2 and 4 and on the
    # classifier, at 2 eps; the suite's sets of the two points above are built already
    plan = snakemake(repo_root, workdir, overlay, "-n", "results/figures/suite.pdf")
    jobs = scheduled(plan)
    assert jobs.count("accuracy_figure") == 1 and jobs.count("attack_adaptive") == 8 * 2 - 4
    # one cell's override reruns that cell's suite attacks, evaluations and health rows only
    overlay["cell_overrides"] = {"mnist/vae_d1_stp0.2_a0": {"epochs": 2}}
    plan = snakemake(repo_root, workdir, overlay, "-n", cell)
    jobs = scheduled(plan)
    assert sorted(set(jobs)) == ["attack_adaptive", "evaluate_adaptive", "health", "train_autoencoder"]
    assert jobs.count("health") == 1 and jobs.count("attack_adaptive") == 3  # eps 0.1, 0.3 and 1


def test_a_figure_caption_counts_the_points_that_pass_every_check(tmp_path):
    from aedefense.report.results import health_summary

    table = tmp_path / "health.csv"
    assert "not checked yet; build" in health_summary(table, [("mnist", "none", 0.0)])
    rows = [
        ("none", 0.0, "pass"),
        ("none", 0.0, "not applicable"),
        ("ae_d0_stp0_a0", 0.0, "pass"),
        ("ae_d0_stp0_a0", 0.0, "warn"),
        ("vae_d0_stp0_a0", 1.0, "fail"),
        ("vae_d0_stp0_a0", 1.0, "warn"),
        ("vae_d0_stp0_a0", 2.0, "pass"),  # a scale the figure does not show
    ]
    lines = ["dataset,cell,scale,check,verdict"] + [f"mnist,{c},{s},x{i},{v}" for i, (c, s, v) in enumerate(rows)]
    table.write_text("\n".join(lines) + "\n")
    points = [("mnist", "none", 0), ("mnist", "ae_d0_stp0_a0", 0.0), ("mnist", "vae_d0_stp0_a0", 1.0)]
    points.append(("mnist", "vae_d1_stp0.4_a0", 1.0))
    summary = health_summary(table, points)
    assert summary == (
        f"Evaluation health ({table}): 1 of the 4 (cell, latent scale) points shown pass every check; "
        "1 with a warning; 1 fail at least one (the table's detail column says why); "
        "1 not checked (outside the health table's grid)."
    )
    # a training seed's rows: the table's cell is the base name, the seed in `replicate`
    table.write_text("dataset,cell,replicate,scale,check,verdict\nmnist,none,0,0.0,a,pass\nmnist,none,1,0.0,a,fail\n")
    summary = health_summary(table, [("mnist", "none", 0.0), ("mnist", "none_r1", 0.0)])
    assert "1 of the 2 (cell, latent scale) points shown pass every check; 1 fail at least one" in summary
