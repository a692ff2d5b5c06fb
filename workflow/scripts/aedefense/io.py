"""Atomic writes: a killed job never leaves a file that looks complete.

torch is imported inside the functions that use it: the Snakefile imports this module (through
the config checks), and importing torch there would add seconds to every `snakemake -n`.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(dest: str | Path):
    """Yield a temporary path beside `dest`; rename it to `dest` only if the block succeeds."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def save_torch(obj, dest: str | Path) -> None:
    import torch

    with atomic_path(dest) as tmp, open(tmp, "wb") as handle:
        # through a handle, not a path: torch.save names the archive after a path, and the
        # temporary name would make equal checkpoints differ byte for byte
        torch.save(obj, handle)


def load_torch(path: str | Path, what: str, rebuild_hint: str):
    """torch.load with weights_only=True; a clear error names the file and how to rebuild it."""
    import torch

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} {path} does not exist. {rebuild_hint}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt, truncated, foreign or unsafe (pickled code) file
        raise ValueError(
            f"{what} {path} cannot be read safely ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else 'no detail'}). "
            f"It is corrupt, truncated, or not written by this workflow. {rebuild_hint}"
        ) from None


def save_json(obj, dest: str | Path) -> None:
    import json

    with atomic_path(dest) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
