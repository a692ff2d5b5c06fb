"""Checkpoints: a state dict plus the settings that rebuild the model, written atomically and
loaded with weights_only=True (no code from the file is ever run)."""

from __future__ import annotations

from pathlib import Path

from aedefense.io import load_torch, save_torch, set_aside
from aedefense.models import Classifier, build_autoencoder

FORMAT_VERSION = 1


def save_checkpoint(path, kind: str, model, settings: dict) -> None:
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    save_torch(
        {"format_version": FORMAT_VERSION, "kind": kind, "settings": settings, "state_dict": state},
        path,
    )


def _load(path, kind: str):
    what = f"{kind} checkpoint"
    record = load_torch(path, what)
    if (
        not isinstance(record, dict)
        or record.get("kind") != kind
        or record.get("format_version") != FORMAT_VERSION
        or not isinstance(record.get("state_dict"), dict)
    ):
        found = record.get("kind") if isinstance(record, dict) else type(record).__name__
        raise set_aside(
            path, what, f"is not a {kind} checkpoint of this workflow (format {FORMAT_VERSION}); found kind {found!r}"
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


def load_classifier(path: str | Path) -> tuple[Classifier, dict]:
    record, what = _load(path, "classifier")
    s = record["settings"]
    model = Classifier(tuple(s["in_shape"]), s["classes"], s["blocks"], s["channels"], s["dense"], s["dropout"])
    return _restore(model, record, path, what), s


def load_autoencoder(path: str | Path):
    record, what = _load(path, "autoencoder")
    s = record["settings"]
    model = build_autoencoder(tuple(s["in_shape"]), s["family"], s)
    return _restore(model, record, path, what), s
