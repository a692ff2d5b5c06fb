"""What an artefact was made from, written into it, and checked by every job that reads it.

A prepared split holds its dataset and split; a checkpoint its identity (dataset, model name,
the sha256 of the prepared data it was trained on) and its training settings; an adversarial
set its own identity (dataset, cell, attack, eps, scale, the sha256 of the models and the test
data it was made from), and a checksum file beside it holds the sha256 the attack job wrote.
A result CSV holds, per row, the sha256 of every file the row was computed from and a
checksum of the row itself. A reader states what it expects, and a file whose lineage differs
is refused: a file copied or moved into another job's place, or edited after its job wrote
it, is well-formed, so no archive check would catch it, and its numbers would be wrong.

The checks catch copies, mix-ups and edits by hand; they are no signature: whoever rewrites
a file and its checksums together is not caught.
"""

from __future__ import annotations

import hashlib
import json
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


def checksum_file(path: str | Path) -> Path:
    """The file beside `path` that holds the sha256 its job wrote: <name>.sha256."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def write_checksum_file(path: str | Path, dest: str | Path | None = None) -> str:
    """Write the sha256 of `path` beside it (or to `dest`), as `sha256sum` prints it."""
    from aedefense.files.io import atomic_path

    digest = sha256_of(path)
    dest = checksum_file(path) if dest is None else Path(dest)
    with atomic_path(dest) as tmp:
        tmp.write_text(f"{digest}  {Path(path).name}\n")
    return digest


def recorded_checksum(path: str | Path) -> str | None:
    """The sha256 that the checksum file beside `path` holds; None without a readable one."""
    try:
        text = checksum_file(path).read_text()
    except OSError:
        return None
    digest = text.split(maxsplit=1)[0] if text.strip() else ""
    return digest if len(digest) == 64 else None


def files_sha256(paths) -> dict[str, str]:
    """{path: sha256} of each file, in the order given (a job's inputs: its lineage)."""
    return {str(path): sha256_of(path) for path in dict.fromkeys(map(str, paths))}


def lineage_json(paths) -> str:
    """A job's inputs and their sha256 as one compact JSON text, for a CSV column."""
    return json.dumps(files_sha256(paths), separators=(",", ":"))


def row_checksum(fields: dict[str, str]) -> str:
    """The sha256 of one CSV row as written: its column names and their text, in order."""
    text = "\x1f".join(f"{key}\x1e{value}" for key, value in fields.items())
    return hashlib.sha256(text.encode()).hexdigest()
