"""Checkpoints: round trips, and damaged, foreign or unsafe files refused and set aside."""

import pickle

import pytest
import torch

from aedefense.core.models import Classifier, build_autoencoder
from aedefense.jobs.checkpoints import load_autoencoder, load_classifier, save_checkpoint

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
