"""Checkpoints: a state dict, the settings that rebuild the model and the model's identity,
written atomically and loaded with weights_only=True (no code from the file is ever run).

The identity is the dataset, the model's name (`classifier`, `classifier_r1`, a cell such as
`vae_d1_stp0.4_a0`) and the sha256 of the prepared train and test files it was trained on.
A job that reads a checkpoint says which one it expects (`expected_model`): its identity and
the training settings the job's config asks for (the rule's params `models`). A checkpoint of
another cell, dataset or data, or one trained with other settings (another cell's 30-epoch
model copied over a 1-epoch one, say), is refused and marked for rebuilding.
"""

from __future__ import annotations

from pathlib import Path

from aedefense.core.defences import Defence
from aedefense.core.models import Classifier, build_autoencoder
from aedefense.files.io import load_torch, save_torch, set_aside
from aedefense.files.provenance import identity_mismatches, sha256_of
from aedefense.plan.cells import split_replicate
from aedefense.plan.grid import classifier_name
from aedefense.plan.names import UNDEFENDED

# 2: the identity added; a checkpoint of format 1 is retrained
FORMAT_VERSION = 2


def model_identity(dataset: str, name: str, data_files: dict) -> dict:
    """What a training job writes into its checkpoint; data_files: split -> prepared file."""
    return {
        "dataset": dataset,
        "name": name,
        **{f"{split}_sha256": sha256_of(path) for split, path in sorted(data_files.items())},
    }


def expected_model(dataset: str, name: str, test_sha256: str, settings: dict | None = None) -> dict:
    """What a job that reads a checkpoint expects of it: its dataset and name, the test data
    that the job itself reads and, where given, the settings it was trained with (the keys
    given are compared; the checkpoint may add in_shape and classes)."""
    expected = {"dataset": dataset, "name": name, "test_sha256": test_sha256}
    if settings is not None:
        expected["settings"] = dict(settings)
    return expected


def save_checkpoint(path, kind: str, model, settings: dict, identity: dict) -> None:
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    save_torch(
        {
            "format_version": FORMAT_VERSION,
            "kind": kind,
            "identity": identity,
            "settings": settings,
            "state_dict": state,
        },
        path,
    )


def _load(path, kind: str, expected: dict | None):
    what = f"{kind} checkpoint"
    record = load_torch(path, what)
    if not isinstance(record, dict) or record.get("kind") != kind or not isinstance(record.get("state_dict"), dict):
        found = record.get("kind") if isinstance(record, dict) else type(record).__name__
        raise set_aside(
            path, what, f"is not a {kind} checkpoint of this workflow (format {FORMAT_VERSION}); found kind {found!r}"
        )
    if record.get("format_version") != FORMAT_VERSION:
        raise set_aside(
            path,
            what,
            f"was written by another version of this workflow (format {record.get('format_version')!r}, this "
            f"version reads format {FORMAT_VERSION}, which records what the model was trained on)",
        )
    if expected is not None:
        expected = dict(expected)
        settings = expected.pop("settings", None)
        problems = identity_mismatches(record.get("identity"), expected)
        if problems:
            raise set_aside(
                path,
                what,
                "is not the model this job reads (copied or moved from another job's folder, or trained on "
                "other data): " + "; ".join(problems),
            )
        problems = identity_mismatches(record.get("settings"), settings or {})
        if problems:
            raise set_aside(
                path,
                what,
                "was trained with other settings than this job's config asks for (copied from another run or "
                "cell?): " + "; ".join(problems),
            )
    return record, what


def _restore(model, record, path, what):
    try:
        model.load_state_dict(record["state_dict"])
    except RuntimeError as error:
        raise set_aside(
            path,
            what,
            f"holds weights that do not fit the architecture its settings describe ({str(error).splitlines()[0]})",
        ) from None
    return model.eval()


def load_classifier(path: str | Path, expected: dict | None = None) -> tuple[Classifier, dict]:
    """(model in eval mode, settings); expected: see expected_model (None: any identity)."""
    record, what = _load(path, "classifier", expected)
    s = record["settings"]
    model = Classifier(tuple(s["in_shape"]), s["classes"], s["blocks"], s["channels"], s["dense"], s["dropout"])
    return _restore(model, record, path, what), s


def load_autoencoder(path: str | Path, expected: dict | None = None):
    """(model in eval mode, settings); expected: see expected_model (None: any identity)."""
    record, what = _load(path, "autoencoder", expected)
    s = record["settings"]
    model = build_autoencoder(tuple(s["in_shape"]), s["family"], s)
    return _restore(model, record, path, what), s


def load_defence(inputs, dataset: str, cell: str, user: dict | None = None, models: dict | None = None) -> Defence:
    """The models of `cell` from a job's inputs (keys test, classifier and, unless the cell
    is names.UNDEFENDED, autoencoder); user: for a defence of the user's own, its entry
    (inputs: contract and defence_source, classifier for a purifier, defence_checkpoint
    where it has one); models: the training settings the job's config asks for, under
    `classifier` and `autoencoder` (the rule's params; None: not checked)."""
    models = models or {}
    test_sha256 = sha256_of(inputs["test"])
    base, replicate = split_replicate(cell)
    classifier, classifier_settings = None, None
    if "classifier" in inputs:
        classifier, classifier_settings = load_classifier(
            inputs["classifier"],
            expected_model(dataset, classifier_name(replicate), test_sha256, models.get("classifier")),
        )
    sources = {"classifier_sha256": sha256_of(inputs["classifier"]) if classifier is not None else None}
    if user is not None:
        from aedefense.core.defences import load_user_defence
        from aedefense.plan.grid import uses_classifier

        if not uses_classifier(user):  # a whole model of its own: a classifier given (health) is not part of it
            classifier, classifier_settings, sources["classifier_sha256"] = None, None, None
        defence = load_user_defence(base, user, inputs, classifier)
        sources.update(defence_sources(inputs), test_sha256=test_sha256)
        return Defence(classifier, classifier_settings, None, None, sources, defence)
    autoencoder, autoencoder_settings = None, None
    if base != UNDEFENDED:
        autoencoder, autoencoder_settings = load_autoencoder(
            inputs["autoencoder"], expected_model(dataset, cell, test_sha256, models.get("autoencoder"))
        )
    sources["autoencoder_sha256"] = sha256_of(inputs["autoencoder"]) if autoencoder is not None else None
    sources["test_sha256"] = test_sha256
    return Defence(classifier, classifier_settings, autoencoder, autoencoder_settings, sources)


def defence_sources(inputs) -> dict:
    """The sha256 of a user defence's source file and checkpoint (None without one)."""
    checkpoint = inputs.get("defence_checkpoint")
    return {
        "defence_source_sha256": sha256_of(inputs["defence_source"]),
        "defence_checkpoint_sha256": sha256_of(checkpoint) if checkpoint else None,
    }
