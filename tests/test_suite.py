"""The standard attack suite (APGD-CE, APGD-DLR, APGD-T, Square, their EOT forms) against the
reference implementation that torchattacks 3.5.1 carries, and the suite's composition."""

import pytest
import torch
import yaml
from shared_helpers import NoisyLogits

from aedefense.core import attacks
from aedefense.core.apgd import apgd_box, dlr_loss
from aedefense.core.square import square_box, square_fraction
from aedefense.plan import attack_specs, params


@pytest.fixture
def torchattacks():
    """The reference implementations; only the comparisons with them need it (a test extra)."""
    return pytest.importorskip("torchattacks")


# The agreement asked of our attacks and the reference on images both fool: the same point,
# up to float rounding (measured: identical).
AGREEMENT = 1e-6
APGD = {"method": "apgd", "steps": 20, "restarts": 1, "rho": 0.75, "batch_size": 64}
SQUARE = {"method": "square", "queries": 200, "p_init": 0.8, "restarts": 1, "batch_size": 64}


def accuracy(model, images, labels):
    with torch.no_grad():
        return model(images).argmax(1) == labels


def agree(model, x, y, ours, theirs):
    """Same robust accuracy, the same images robust, and on the images both fool the same point."""
    ours_correct, theirs_correct = accuracy(model, ours.adversarial, y), accuracy(model, theirs, y)
    assert torch.equal(ours_correct, theirs_correct)
    assert torch.equal(~ours_correct, ours.success)  # a deterministic model: success is what it predicts
    fooled = ~ours_correct
    assert int(fooled.sum()) > 0  # an informative case
    difference = (ours.adversarial - theirs)[fooled].abs().max()
    assert float(difference) <= AGREEMENT


@pytest.mark.parametrize(
    "loss,eps,restarts", [("ce", 0.05, 1), ("ce", 0.05, 2), ("dlr", 0.1, 1), ("dlr_targeted", 0.05, 1)]
)
def test_apgd_agrees_with_the_reference(trained, torchattacks, loss, eps, restarts):
    model, x, y = trained
    settings = dict(APGD, loss=loss, restarts=restarts, targets=9)
    ours = apgd_box(
        model,
        x,
        y,
        eps=eps,
        **{k: settings[k] for k in ("steps", "loss", "restarts", "rho", "targets")},
        generator=torch.Generator().manual_seed(0),
    )
    if loss == "dlr_targeted":
        reference = torchattacks.APGDT(model, eps=eps, steps=20, n_restarts=restarts, seed=0, n_classes=10)
    else:
        reference = torchattacks.APGD(model, eps=eps, steps=20, n_restarts=restarts, seed=0, loss=loss)
    agree(model, x, y, ours, reference(x, y).detach())
    assert float((ours.adversarial - x).abs().max()) <= eps + 1e-6
    assert float(ours.adversarial.min()) >= 0 and float(ours.adversarial.max()) <= 1
    # success_step: the iteration at which each fooled image was first fooled, within the run
    assert bool((ours.success_step[ours.success] >= 0).all()) and int(ours.success_step.max()) <= 20
    assert bool((ours.success_step[~ours.success] == -1).all())


def test_square_agrees_with_the_reference(trained, torchattacks):
    model, x, y = trained
    ours = square_box(
        model, x, y, eps=0.2, queries=200, p_init=0.8, restarts=1, generator=torch.Generator().manual_seed(0)
    )
    theirs = torchattacks.Square(model, norm="Linf", eps=0.2, n_queries=200, n_restarts=1, p_init=0.8, seed=0)(
        x, y
    ).detach()
    agree(model, x, y, ours, theirs)
    assert float((ours.adversarial - x).abs().max()) <= 0.2 + 1e-6


def test_square_schedule_halves_the_square_on_the_reference_steps():
    assert square_fraction(0.8, 0, 5000) == 0.8 and square_fraction(0.8, 5, 5000) == 0.8
    assert square_fraction(0.8, 6, 5000) == 0.4  # 6 of 5,000 is 12 of 10,000
    assert square_fraction(0.8, 4999, 5000) == 0.8 / 512


def test_dlr_loss_is_scale_invariant():
    logits = torch.tensor([[3.0, 1.0, 0.5, -1.0], [0.0, 2.0, 1.0, 0.5]])
    labels = torch.tensor([0, 0])
    assert torch.allclose(dlr_loss(logits, labels), dlr_loss(10 * logits + 4, labels))
    assert float(dlr_loss(logits, labels)[0]) < 0 < float(dlr_loss(logits, labels)[1])  # right, then wrong


def test_apgd_with_eot_on_a_sampling_model_stays_in_the_box_and_repeats(trained):
    model, x, y = trained

    def run():
        noisy = NoisyLogits(model, seed=1)
        return apgd_box(
            noisy,
            x[:16],
            y[:16],
            eps=0.05,
            steps=10,
            loss="ce",
            restarts=1,
            rho=0.75,
            eot_draws=4,
            generator=torch.Generator().manual_seed(0),
        )

    first, second = run(), run()
    assert torch.equal(first.adversarial, second.adversarial) and torch.equal(first.success, second.success)
    assert float((first.adversarial - x[:16]).abs().max()) <= 0.05 + 1e-6


def test_the_suite_is_the_per_example_worst_case_of_its_protocol_in_order(trained):
    model, x, y = trained
    protocol = [dict(APGD, loss="ce", name="apgdce"), dict(SQUARE, name="square")]
    generator = torch.Generator().manual_seed(0)
    suite = attacks.run_attack(model, x, y, {"method": "suite", "eps": 0.05, "protocol": protocol}, generator=generator)
    generator = torch.Generator().manual_seed(0)
    first = attacks.run_attack(model, x, y, dict(protocol[0], eps=0.05), generator)
    later = ~first.success
    second = attacks.run_attack(model, x[later], y[later], dict(protocol[1], eps=0.05), generator)
    expected = first.success.clone()
    expected[later] = second.success
    assert torch.equal(suite.success, expected)
    assert torch.equal(~accuracy(model, suite.adversarial, y), suite.success)
    assert int(suite.success.sum()) >= int(first.success.sum())
    assert float((suite.adversarial - x).abs().max()) <= 0.05 + 1e-6


def test_the_suite_protocol_follows_the_cell(base_config):
    def protocol(cell, scale):
        settings = params.attack_settings(base_config, "mnist", "suite", 0.1, cell, scale)
        assert "standard" not in settings and "rand" not in settings
        return [attack["name"] for attack in settings["protocol"]]

    assert protocol("none", 0.0) == ["apgdce", "apgdt", "square"]
    assert protocol("ae_d0_stp0.4_a0", 0.0) == ["apgdce", "apgdt", "square"]
    assert protocol("vae_d1_stp0.4_a0", 0.0) == ["apgdce", "apgdt", "square"]  # z = mu: deterministic
    assert protocol("vae_d1_stp0.4_a0", 1.0) == ["apgdceeot", "apgddlreot"]
    rand = params.attack_settings(base_config, "mnist", "suite", 0.1, "vae_d1_stp0.4_a0", 1.0)["protocol"]
    assert [attack["eot_draws"] for attack in rand] == [20, 20]


def test_work_of_counts_runs_targets_and_the_suites_parts(base_config):
    apgdt = dict(base_config["attacks"]["apgdt"], eps=0.1)
    assert attack_specs.work_of(apgdt, 10) == 10 * 101 * 9
    square = dict(base_config["attacks"]["square"], eps=0.1)
    assert attack_specs.work_of(square, 10) == round(10 * 5001 * 0.4)  # forwards only
    suite = params.attack_settings(base_config, "mnist", "suite", 0.1, "none", 0.0)
    assert attack_specs.work_of(suite, 10) == 10 * 101 + 10 * 101 * 9 + round(10 * 5001 * 0.4)


def test_a_suite_naming_an_unknown_or_adaptive_attack_is_refused(base_config, repo_root):
    from aedefense.plan.config import ConfigError, validate_config

    base_config["attacks"]["suite"]["standard"] = ["apgdce", "apgdceeot", "fab"]
    with pytest.raises(ConfigError) as error:
        validate_config(base_config, repo_root / "workflow" / "schemas" / "config.schema.yaml")
    assert "attacks.suite.standard: 'fab' is not defined under attacks" in str(error.value)
    assert "attacks.suite.standard: 'apgdceeot' is adaptive (eot_draws)" in str(error.value)


def test_the_shipped_suite_is_autoattacks_standard_and_rand_versions(repo_root):
    config = yaml.safe_load((repo_root / "config.yaml").read_text())
    apgdt, square = config["attacks"]["apgdt"], config["attacks"]["square"]
    assert (apgdt["steps"], apgdt["targets"], square["queries"]) == (100, 9, 5000)
    assert [config["attacks"][a]["eot_draws"] for a in config["attacks"]["suite"]["rand"]] == [20, 20]
