"""Checkpoints: a state dict plus the settings that rebuild the model, written atomically and
loaded with weights_only=True (no code from the file is ever run)."""

from __future__ import annotations

from pathlib import Path

from aedefense.io import load_torch, save_torch
from aedefense.models import Classifier
from aedefense.models import build_autoencoder

FORMAT_VERSION = 1


def save_checkpoint(path, kind: str, model, settings: dict) -> None:
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    save_torch(
        {"format_version": FORMAT_VERSION, "kind": kind, "settings": settings, "state_dict": state},
        path,
    )


def _load(path, kind: str, rebuild: str):
    hint = f"Rebuild it: snakemake --cores 2 --forcerun {rebuild} {path}"
    record = load_torch(path, f"{kind} checkpoint", hint)
    if (
        not isinstance(record, dict)
        or record.get("kind") != kind
        or record.get("format_version") != FORMAT_VERSION
        or not isinstance(record.get("state_dict"), dict)
    ):
        found = record.get("kind") if isinstance(record, dict) else type(record).__name__
        raise ValueError(
            f"{path} is not a {kind} checkpoint of this workflow (format {FORMAT_VERSION}); "
            f"found kind {found!r}. {hint}"
        )
    return record, hint


def _restore(model, record, path, hint):
    try:
        model.load_state_dict(record["state_dict"])
    except RuntimeError as error:
        raise ValueError(
            f"{path}: its weights do not fit the architecture its settings describe "
            f"({str(error).splitlines()[0]}). {hint}"
        ) from None
    return model.eval()


def load_classifier(path: str | Path) -> tuple[Classifier, dict]:
    record, hint = _load(path, "classifier", "train_classifier")
    s = record["settings"]
    model = Classifier(
        tuple(s["in_shape"]), s["classes"], s["blocks"], s["channels"], s["dense"], s["dropout"]
    )
    return _restore(model, record, path, hint), s


def load_autoencoder(path: str | Path):
    record, hint = _load(path, "autoencoder", "train_autoencoder")
    s = record["settings"]
    model = build_autoencoder(tuple(s["in_shape"]), s["family"], s)
    return _restore(model, record, path, hint), s
