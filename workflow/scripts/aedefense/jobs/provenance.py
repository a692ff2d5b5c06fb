"""What an artefact was made from, written into it, and checked by every job that reads it.

A checkpoint holds its identity (dataset, model name, the sha256 of the prepared data it was
trained on); an adversarial set holds its own (dataset, cell, attack, eps, scale, the sha256
of the models and the test data it was made from). A reader states what it expects, and a
file whose identity differs is refused: a file copied or moved into another job's place is
well-formed, so no archive check would catch it, and its numbers would be wrong.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _short(value):
    """A sha256 cut to 12 characters for a message; other values as they are."""
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value[:12] + "..."
    return value


def identity_mismatches(found, expected: dict) -> list[str]:
    """'<key>: holds X, this job expects Y' for every expected key the found identity differs in."""
    found = found if isinstance(found, dict) else {}
    return [
        f"{key}: holds {_short(found.get(key))!r}, this job expects {_short(value)!r}"
        for key, value in expected.items()
        if found.get(key) != value
    ]
