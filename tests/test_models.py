"""Models, losses, training and checkpoints on small fixture data."""

import copy
import pickle

import fixtures
import numpy as np
import pytest
import torch

from aedefense import losses
from aedefense.cells import Cell
from aedefense.checkpoints import load_autoencoder, load_classifier, save_checkpoint
from aedefense.models import Autoencoder, Classifier, DefendedModel, build_autoencoder
from aedefense.params import autoencoder_settings, classifier_settings
from aedefense.plan import trained_cells
from aedefense.training import (
    evaluate_autoencoder,
    train_autoencoder,
    train_classifier,
)

CPU = torch.device("cpu")


def tiny_data(n_train=200, n_test=50, size=28, channels=1, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    data = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = (np.arange(n) % classes).astype(np.int64)
        images = fixtures.class_images(labels, size, channels, rng)
        data[split] = {
            "images": torch.from_numpy(images),
            "labels": torch.from_numpy(labels),
            "classes": classes,
        }
    return data


def ae_settings(base_config, **changes):
    settings = dict(base_config["autoencoder"], seed=0, epochs=2, batch_size=50)
    settings.update(channels=8, latent_dim=16)
    settings.update(changes)
    return settings


@pytest.mark.parametrize("shape,classes", [((1, 28, 28), 10), ((3, 32, 32), 62)])
def test_output_shapes(shape, classes):
    x = torch.rand(5, *shape)
    assert Classifier(shape, classes)(x).shape == (5, classes)
    for family, likelihood in (("ae", "gaussian"), ("vae", "gaussian"), ("vae", "bernoulli")):
        model = Autoencoder(shape, family=family, likelihood=likelihood)
        mu, logvar = model.encode(x)
        assert mu.shape == (5, 128)
        assert (logvar is None) == (family == "ae")
        mean, logvar_x = model.decode(mu)
        mean = mean.detach()
        assert mean.shape == x.shape and 0 <= float(mean.min()) and float(mean.max()) <= 1
        gaussian = family == "vae" and likelihood == "gaussian"
        assert (logvar_x is not None) == gaussian
        if gaussian:
            assert logvar_x.shape == x.shape
            assert float(logvar_x.detach().exp().min()) >= 1e-4  # the variance floor


def test_training_pairs_denoising_versus_noise_injection():
    x = torch.rand(4, 1, 28, 28)
    noisy_in, noisy_target = losses.training_pair(x, 0.3, False, torch.Generator().manual_seed(1))
    clean_in, clean_target = losses.training_pair(x, 0.3, True, torch.Generator().manual_seed(1))
    assert torch.equal(noisy_in, clean_in)  # the same seeded noise reaches both inputs
    assert torch.equal(noisy_target, noisy_in)  # plain: reconstruct what it was given
    assert torch.equal(clean_target, x)  # denoising: reconstruct the clean image
    assert 0 <= float(noisy_in.min()) and float(noisy_in.max()) <= 1
    assert 0.15 < float((noisy_in - x).std()) < 0.3  # clipped N(0, 0.3^2)
    same_in, same_target = losses.training_pair(x, 0.0, True)
    assert same_in is x and same_target is x


@pytest.mark.parametrize(
    "family,likelihood,alpha",
    [("ae", "gaussian", 0.0), ("vae", "gaussian", 0.0), ("vae", "bernoulli", 0.0), ("ae", "gaussian", 0.01)],
)
def test_autoencoder_loss_goes_down(base_config, family, likelihood, alpha):
    data = tiny_data()
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
    data = tiny_data(n_train=400, n_test=100)
    settings = classifier_settings(base_config, "mnist")
    settings.update(epochs=8, lr=2e-3)
    model, metrics = train_classifier(data, settings, CPU, log=lambda _: None)
    assert metrics["history"][-1]["train_loss"] < metrics["history"][0]["train_loss"]
    assert metrics["test_accuracy"] > 0.9  # chance is 0.1


def test_kl_warmup_is_linear_then_one():
    assert losses.kl_weight(0, 10, 5) == 0.0
    assert losses.kl_weight(25, 10, 5) == 0.5
    assert losses.kl_weight(50, 10, 5) == 1.0 and losses.kl_weight(99, 10, 5) == 1.0
    assert losses.kl_weight(0, 10, 0) == 1.0


def test_latent_scale_semantics():
    torch.manual_seed(0)
    classifier, vae = Classifier((1, 28, 28), 10).eval(), Autoencoder((1, 28, 28), "vae").eval()
    with torch.no_grad():
        vae.to_logvar.bias.fill_(-1.0)  # a posterior with visible spread
    x = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        mean = DefendedModel(classifier, vae, "mean")(x)
        zero = DefendedModel(classifier, vae, "sample", scale=0.0)
        assert torch.equal(zero(x), mean) and torch.equal(zero(x), zero(x))
        mu, logvar = vae.encode(x)
        spreads = []
        for scale in (0.5, 1.0, 2.0, 4.0):
            draws = torch.stack([vae.latent(mu, logvar, scale, torch.Generator().manual_seed(k)) for k in range(200)])
            spreads.append(float((draws - mu).std()))
            expected = scale * float(torch.exp(0.5 * logvar).mean())
            assert spreads[-1] == pytest.approx(expected, rel=0.1)
        assert spreads == sorted(spreads)
        sampled = DefendedModel(classifier, vae, "sample", scale=1.0)
        assert not torch.equal(sampled(x), sampled(x))


def _small_encoder():
    torch.manual_seed(0)
    model = Autoencoder((1, 12, 12), "vae", channels=4, latent_dim=6)
    return model, (lambda x: model.encode(x)[0])


def test_contractive_exact_matches_autograd_jacobian():
    _, code = _small_encoder()
    x = torch.rand(3, 1, 12, 12)
    expected = np.mean(
        [float(torch.autograd.functional.jacobian(code, x[i : i + 1]).pow(2).sum()) for i in range(len(x))]
    )
    assert float(losses.contractive_exact(code, x)) == pytest.approx(expected, rel=1e-5)


def test_contractive_penalty_trains_the_encoder():
    model, code = _small_encoder()
    penalty = losses.contractive_exact(code, torch.rand(3, 1, 12, 12))
    penalty.backward()
    assert float(model.to_mu.weight.grad.abs().sum()) > 0
    assert model.to_logvar.weight.grad is None  # beta = 0: the variance head is not penalised


def test_contractive_projection_is_unbiased():
    """Mean of 400 one-projection estimates within 5% of the exact value (their standard
    error is about 2% for this model)."""
    _, code = _small_encoder()
    x = torch.rand(3, 1, 12, 12)
    exact = float(losses.contractive_exact(code, x))
    generator = torch.Generator().manual_seed(0)
    estimates = [float(losses.contractive_projection(code, x, 1, generator)) for _ in range(400)]
    assert np.mean(estimates) == pytest.approx(exact, rel=0.05)


def test_training_is_deterministic(base_config, tmp_path):
    data = tiny_data()
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


class Killed(Exception):
    """Stands for the SIGKILL of a job at its time limit, right after an epoch."""


def killed_after_epoch(epoch: int):
    def log(message):
        if message.startswith(f"epoch {epoch}/"):
            raise Killed

    return log


@pytest.mark.parametrize("kind", ["autoencoder", "classifier"])
def test_a_training_killed_after_an_epoch_resumes_to_the_uninterrupted_result(base_config, tmp_path, kind):
    data, resume = tiny_data(n_train=100, n_test=20), tmp_path / ".model.pt.resume"
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
    old, new = tiny_data(n_train=100, n_test=20, seed=0), tiny_data(n_train=100, n_test=20, seed=1)
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


CLASSIFIER_IDENTITY = {"dataset": "mnist", "name": "classifier", "train_sha256": "1" * 64, "test_sha256": "2" * 64}


def _saved_classifier(path, identity=CLASSIFIER_IDENTITY):
    settings = {"in_shape": [1, 28, 28], "classes": 10, "blocks": 4, "channels": 8, "dense": 20, "dropout": 0.3}
    model = Classifier((1, 28, 28), 10, 4, 8, 20, 0.3)
    save_checkpoint(path, "classifier", model, settings, identity)
    return model


def test_checkpoint_round_trip(tmp_path):
    model = _saved_classifier(tmp_path / "c.pt")
    loaded, settings = load_classifier(tmp_path / "c.pt")
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(loaded(x), model.eval()(x)) and settings["classes"] == 10


def test_corrupt_foreign_and_unsafe_checkpoints_fail_clearly_and_are_set_aside(tmp_path):
    path = tmp_path / "c.pt"

    def fails(load, target, match):
        with pytest.raises(ValueError, match=match) as error:
            load(target)
        # older than anything it was made from, so the next run rebuilds it and what depends on it
        assert target.stat().st_mtime == 0
        assert "marked for rebuilding" in str(error.value) and "run the same snakemake command again" in str(
            error.value
        )

    _saved_classifier(path)
    fails(load_autoencoder, path, "not a autoencoder checkpoint.*found kind 'classifier'")
    _saved_classifier(path)
    path.write_bytes(path.read_bytes()[:300])
    fails(load_classifier, path, "is not a complete archive")

    # changed in place, same size: torch.load would read it; the archive's CRCs do not match
    _saved_classifier(path)
    original = load_classifier(path)[0].state_dict()
    content = bytearray(path.read_bytes())
    weights = content.index(original["features.0.weight"].numpy().tobytes()[:64])
    content[weights : weights + 400] = bytes(400)
    path.write_bytes(bytes(content))
    fails(load_classifier, path, "fails the checksum of its member .*: it changed on disk")
    assert path.read_bytes() == bytes(content)  # left as found, for a look

    class Payload:
        def __reduce__(self):
            return (print, ("code ran",))

    unsafe = tmp_path / "unsafe.pt"
    unsafe.write_bytes(pickle.dumps(Payload()))
    fails(load_classifier, unsafe, "is not a complete archive")  # a pickle is no torch archive
    torch.save(Payload(), unsafe)  # the same pickle inside a well-formed torch archive
    fails(load_classifier, unsafe, "holds Python objects that loading would run as code")

    mismatched = tmp_path / "m.pt"
    save_checkpoint(
        mismatched,
        "classifier",
        Classifier((1, 28, 28), 10, 4, 8, 20, 0.3),
        {"in_shape": [1, 28, 28], "classes": 10, "blocks": 4, "channels": 16, "dense": 20, "dropout": 0.3},
        CLASSIFIER_IDENTITY,
    )
    fails(load_classifier, mismatched, "do not fit the architecture")

    # a checkpoint of the format before identities were recorded is retrained
    _saved_classifier(path)
    record = torch.load(path, weights_only=True)
    record["format_version"] = 1
    del record["identity"]
    torch.save(record, path)
    fails(load_classifier, path, "written by another version of this workflow .format 1")


def test_a_pickle_is_refused_without_torchs_advice_to_load_it_unsafely(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("code ran",))

    unsafe = tmp_path / "unsafe.pt"
    torch.save(Payload(), unsafe)
    with pytest.raises(ValueError) as error:
        load_classifier(unsafe)
    message = str(error.value)
    assert "holds Python objects that loading would run as code (it refers to print)" in message
    assert "weights_only" not in message and "trust" not in message


@pytest.mark.parametrize(
    "expected,complaint",
    [
        ({"name": "vae_d1_stp0.2_a0"}, "name: holds 'ae_d0_stp0_a0', this job expects 'vae_d1_stp0.2_a0'"),
        ({"dataset": "fashion-mnist"}, "dataset: holds 'mnist', this job expects 'fashion-mnist'"),
        ({"test_sha256": "f" * 64}, "test_sha256: holds '222222222222...', this job expects 'ffffffffffff...'"),
    ],
)
def test_a_checkpoint_of_another_cell_dataset_or_data_is_refused_and_set_aside(tmp_path, expected, complaint):
    path = tmp_path / "model.pt"
    identity = {"dataset": "mnist", "name": "ae_d0_stp0_a0", "train_sha256": "1" * 64, "test_sha256": "2" * 64}
    settings = {"family": "ae", "channels": 8, "latent_dim": 16, "in_shape": [1, 28, 28]}
    save_checkpoint(path, "autoencoder", build_autoencoder((1, 28, 28), "ae", settings), settings, identity)
    assert load_autoencoder(path, {"dataset": "mnist", "name": "ae_d0_stp0_a0", "test_sha256": "2" * 64})
    with pytest.raises(ValueError) as error:
        load_autoencoder(path, {**identity, **expected})
    assert f"autoencoder checkpoint {path} is not the model this job reads" in str(error.value)
    assert complaint in str(error.value) and "marked for rebuilding" in str(error.value)
    assert path.stat().st_mtime == 0


def test_settings_slices_carry_only_what_the_cell_depends_on(base_config):
    config = copy.deepcopy(base_config)
    config["cell_overrides"] = {"mnist/vae_d1_stp0.4_a0": {"epochs": 60}}
    config["data"]["mnist"]["autoencoder"] = {"epochs": 12, "lr": 0.5}
    # a cell override beats the dataset's settings, which beat `autoencoder`
    assert autoencoder_settings(config, "mnist", "vae_d1_stp0.4_a0")["epochs"] == 60
    assert autoencoder_settings(config, "mnist", "vae_d1_stp0.4_a0")["lr"] == 0.5
    assert autoencoder_settings(config, "fashion-mnist", "vae_d1_stp0.4_a0")["epochs"] == 30
    assert autoencoder_settings(config, "mnist", "vae_d0_stp0.4_a0")["epochs"] == 12
    ae = autoencoder_settings(config, "mnist", "ae_d0_stp0.1_a0")
    assert "vae_likelihood" not in ae and "contractive" not in ae
    cae = autoencoder_settings(config, "mnist", "ae_d0_stp0.1_a0.01")
    assert cae["contractive"] == "exact" and "contractive_projections" not in cae
    with pytest.raises(ValueError, match="its model is vae_d0_stp0_a0"):
        autoencoder_settings(config, "mnist", "vae_d1_stp0_a0")
    assert classifier_settings(config, "btsc")["epochs"] == config["data"]["btsc"]["classifier_epochs"]


def test_the_paper_grid_trains_each_model_once(base_config):
    cells = trained_cells(base_config)
    names = [cell.name for cell in cells]
    assert len(names) == len(set(names)) == 26
    assert "ae_d1_stp0_a0" not in names and "ae_d0_stp0_a0" in names
    assert sum(cell.alpha > 0 for cell in cells) == 8
