"""The training loops on small fixture data: losses fall, runs repeat, a killed run resumes."""

import fixtures
import pytest
import torch

from aedefense.core.models import build_autoencoder
from aedefense.data.prepared import to_unit
from aedefense.jobs.checkpoints import save_checkpoint
from aedefense.jobs.training import (
    evaluate_autoencoder,
    train_autoencoder,
    train_classifier,
)
from aedefense.plan.cells import Cell
from aedefense.plan.params import classifier_settings

CPU = torch.device("cpu")


def ae_settings(base_config, **changes):
    settings = dict(base_config["autoencoder"], seed=0, epochs=2, batch_size=50)
    settings.update(channels=8, latent_dim=16)
    settings.update(changes)
    return settings


class Killed(Exception):
    """Stands for the SIGKILL of a job at its time limit, right after an epoch."""


def killed_after_epoch(epoch: int):
    def log(message):
        if message.startswith(f"epoch {epoch}/"):
            raise Killed

    return log


@pytest.mark.parametrize(
    "family,likelihood,alpha",
    [("ae", "gaussian", 0.0), ("vae", "gaussian", 0.0), ("vae", "bernoulli", 0.0), ("ae", "gaussian", 0.01)],
)
def test_autoencoder_loss_goes_down(base_config, family, likelihood, alpha):
    data = fixtures.tiny_data()
    cell = Cell(family, True, 0.2, alpha)
    settings = ae_settings(base_config, epochs=20, lr=3e-3, vae_likelihood=likelihood, kl_warmup_epochs=0)
    _, metrics = train_autoencoder(data, cell, settings, CPU, log=lambda _: None)
    history = metrics["history"]
    assert history[-1]["loss"] < history[0]["loss"]
    torch.manual_seed(0)
    untrained = build_autoencoder((1, 28, 28), family, settings)
    before = evaluate_autoencoder(untrained, data["test"]["images"], cell, seed=0)
    assert metrics["reconstruction_error"] < 0.5 * before["reconstruction_error"]
    assert ("kl" in history[0]) == (family == "vae")
    assert ("contractive" in history[0]) == (alpha > 0)
    assert metrics["reconstruction_error"] > 0
    if family == "vae":
        assert metrics["elbo"] == pytest.approx(-(metrics["reconstruction_nll"] + metrics["kl"]))


def test_classifier_learns_fixture_classes(base_config):
    data = fixtures.tiny_data(n_train=400, n_test=100)
    settings = classifier_settings(base_config, "mnist")
    settings.update(epochs=8, lr=2e-3)
    model, metrics = train_classifier(data, settings, CPU, log=lambda _: None)
    assert metrics["history"][-1]["train_loss"] < metrics["history"][0]["train_loss"]
    assert metrics["test_accuracy"] > 0.9  # chance is 0.1


def test_training_is_deterministic(base_config, tmp_path):
    data = fixtures.tiny_data()
    cell = Cell("vae", True, 0.1, 0.0)
    paths = []
    for run in ("a", "b"):
        model, _ = train_autoencoder(data, cell, ae_settings(base_config), CPU, log=lambda _: None)
        paths.append(tmp_path / run / "model.pt")
        save_checkpoint(paths[-1], "autoencoder", model, {"run": 1}, {"dataset": "mnist", "name": cell.name})
    assert paths[0].read_bytes() == paths[1].read_bytes()
    other, _ = train_autoencoder(data, cell, ae_settings(base_config, seed=1), CPU, log=lambda _: None)
    first = torch.load(paths[0], weights_only=True)["state_dict"]
    assert not torch.equal(first["to_mu.weight"], other.state_dict()["to_mu.weight"])


@pytest.mark.parametrize("kind", ["autoencoder", "classifier"])
def test_a_training_killed_after_an_epoch_resumes_to_the_uninterrupted_result(base_config, tmp_path, kind):
    data, resume = fixtures.tiny_data(n_train=100, n_test=20), tmp_path / ".model.pt.resume"
    if kind == "autoencoder":
        cell, settings = Cell("vae", True, 0.2, 0.0), ae_settings(base_config, epochs=3, kl_warmup_epochs=2)

        def train(**options):
            return train_autoencoder(data, cell, settings, CPU, **options)
    else:
        settings = dict(classifier_settings(base_config, "mnist"), epochs=3, channels=8, dense=20, batch_size=25)

        def train(**options):
            return train_classifier(data, settings, CPU, **options)

    uninterrupted, _ = train(log=lambda _: None)
    with pytest.raises(Killed):
        train(log=killed_after_epoch(2), resume=resume)
    assert resume.exists()
    lines = []
    resumed, metrics = train(log=lines.append, resume=resume)
    assert lines[0] == f"resuming after epoch 2 from {resume}" and len(metrics["history"]) == 3
    assert not resume.exists()  # done: nothing to resume from
    for (name, a), b in zip(uninterrupted.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    # a checkpoint of other settings is not resumed from
    with pytest.raises(Killed):
        train(log=killed_after_epoch(1), resume=resume)
    settings["lr"] = settings["lr"] / 2
    lines = []
    train(log=lines.append, resume=resume)
    assert "made with other settings" in lines[0]


@pytest.mark.parametrize("kind", ["autoencoder", "classifier"])
def test_a_resume_after_the_data_changed_trains_from_scratch(base_config, tmp_path, kind):
    """Killed after epoch 2, the data re-prepared from another source: the next attempt must
    not go on from weights trained on the old data."""
    old, new = fixtures.tiny_data(n_train=100, n_test=20, seed=0), fixtures.tiny_data(n_train=100, n_test=20, seed=1)
    old_inputs = {"train_sha256": "a" * 64, "test_sha256": "b" * 64}
    new_inputs = {"train_sha256": "c" * 64, "test_sha256": "b" * 64}
    resume = tmp_path / ".model.pt.resume"
    if kind == "autoencoder":
        cell, settings = Cell("ae", True, 0.2, 0.0), ae_settings(base_config, epochs=3)

        def train(data, **options):
            return train_autoencoder(data, cell, settings, CPU, **options)
    else:
        settings = dict(classifier_settings(base_config, "mnist"), epochs=3, channels=8, dense=20, batch_size=25)

        def train(data, **options):
            return train_classifier(data, settings, CPU, **options)

    with pytest.raises(Killed):
        train(old, log=killed_after_epoch(2), resume=resume, inputs=old_inputs)
    lines = []
    resumed, metrics = train(new, log=lines.append, resume=resume, inputs=new_inputs)
    assert lines[0] == (
        f"not resuming from {resume}: it was trained on other inputs (changed: train_sha256); training from scratch"
    )
    assert [row["epoch"] for row in metrics["history"]] == [1, 2, 3]
    from_scratch, _ = train(new, log=lambda _: None, inputs=new_inputs)
    for (name, a), b in zip(from_scratch.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def jacobian_norm(model, image):
    """||d code / d x||_F^2 of one image, from autograd's full Jacobian."""
    return torch.autograd.functional.jacobian(lambda v: model.encode(v)[0], image.unsqueeze(0)).pow(2).sum()


def test_a_contractive_cell_reports_the_exact_penalty_it_reached(base_config):
    """Whichever estimate trained it, a contractive cell's metrics hold the exact penalty on
    clean test images: computed here again one image at a time with autograd's Jacobian."""
    data = fixtures.tiny_data(n_train=100, n_test=12)
    reached = {}
    for alpha in (0.001, 10.0):
        settings = ae_settings(base_config, epochs=3, lr=3e-3, contractive="projection", contractive_projections=2)
        model, metrics = train_autoencoder(data, Cell("ae", False, 0.1, alpha), settings, CPU, log=lambda _: None)
        images = to_unit(data["test"]["images"])
        by_image = [jacobian_norm(model, image) for image in images]
        assert metrics["contractive_exact"] == pytest.approx(float(torch.stack(by_image).mean()), rel=1e-4)
        reached[alpha] = metrics["contractive_exact"]
    assert reached[10.0] < 0.5 * reached[0.001]  # the projection estimate does contract the encoder
    _, plain = train_autoencoder(data, Cell("ae", False, 0.1, 0.0), settings, CPU, log=lambda _: None)
    assert "contractive_exact" not in plain
