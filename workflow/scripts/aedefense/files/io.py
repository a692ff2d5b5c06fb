"""Atomic writes: a killed job never leaves a file that looks complete.

torch is imported inside the functions that use it: the Snakefile imports this module (through
the config checks), and importing torch there would add seconds to every `snakemake -n`.
"""

from __future__ import annotations

import errno
import os
import pickle
import re
import shutil
import zipfile
from contextlib import contextmanager
from pathlib import Path


def remove_stale_parts(dest: Path) -> None:
    """Delete what earlier writers of `dest` left when they were killed mid-write (SIGKILL
    skips every cleanup): temporary files whose process no longer runs."""
    for part in dest.parent.glob(f".{dest.name}.part-*"):
        pid = part.name.rsplit("-", 1)[1]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            part.unlink(missing_ok=True)
        except PermissionError:
            pass  # a live process of another user


@contextmanager
def atomic_path(dest: str | Path):
    """Yield a temporary path beside `dest`; rename it to `dest` only if the block succeeds."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(dest)
    tmp = dest.with_name(f".{dest.name}.part-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def short_writes_named(dest: str | Path):
    """Turn a write that stops short (a full disk, a quota) into an OSError that says so, where
    torch would say "enforce fail ... unexpected pos" or Python a bare "[Errno 28]"."""
    try:
        yield
    except (RuntimeError, OSError) as error:
        if isinstance(error, OSError) and error.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise
        if isinstance(error, RuntimeError) and "unexpected pos" not in str(error):
            raise
        raise OSError(errno.ENOSPC, no_space_message(dest)) from None


def no_space_message(dest: str | Path) -> str:
    folder = Path(dest).parent
    try:
        free = f"{shutil.disk_usage(folder).free / 2**20:.0f} MiB free there now"
    except OSError:
        free = "its free space unknown"
    return (
        f"No space left on device: writing {dest} stopped part-way ({free}). Nothing was written under that "
        "name. Free some space (or a quota) on that disk, or run in a directory on another disk "
        "(snakemake -d DIR), and run the same command again."
    )


def save_torch(obj, dest: str | Path) -> None:
    import torch

    with atomic_path(dest) as tmp, short_writes_named(dest), open(tmp, "wb") as handle:
        # through a handle, not a path: torch.save names the archive after a path, and the
        # temporary name would make equal checkpoints differ byte for byte
        torch.save(obj, handle)


class DamagedInput(ValueError):
    """An input file that cannot be used: truncated, changed on disk, or not this workflow's."""


def set_aside(path: str | Path, what: str, problem: str) -> DamagedInput:
    """Mark a damaged input for rebuilding and return the error to raise. Its time stamp is set
    to 1970, older than the inputs it was made from, so the next run rebuilds it and everything
    that depends on it, as Make-style tools rebuild any outdated file. (Moving it away would
    not do: Snakemake leaves a missing intermediate file alone while what was made from it is
    up to date.)"""
    path = Path(path)
    try:
        os.utime(path, (0, 0))
    except OSError as error:
        # Deleting it would not do: Snakemake leaves a missing intermediate file alone while
        # what was made from it is up to date. --forcerun rebuilds it whatever its state.
        return DamagedInput(
            f"{what} {path} {problem}. It could not be marked for rebuilding ({error.strerror}); rebuild it and "
            f"what depends on it with the same snakemake command and --forcerun {path} at its end (after the "
            "targets: --forcerun takes every word after it)"
        )
    return DamagedInput(
        f"{what} {path} {problem}. It is marked for rebuilding (its time stamp set to 1970); run the same "
        "snakemake command again (with the same --configfile / --config options) and it rebuilds that file "
        "and what depends on it."
    )


def verify_archive(path: Path, what: str) -> None:
    """Check the CRC-32 of every member of a torch.save archive: torch.load does not, so bytes
    changed in place would load as wrong weights or images without an error."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise set_aside(path, what, f"is not a complete archive ({error})") from None
    if bad is not None:
        raise set_aside(path, what, f"fails the checksum of its member {bad}: it changed on disk")


def load_torch(path: str | Path, what: str):
    """torch.load with weights_only=True, after the archive's checksums; a damaged file is
    set aside (set_aside) with an error that names it and says how it is rebuilt."""
    import torch

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} {path} does not exist; run snakemake again to build it.")
    verify_archive(path, what)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's own message suggests weights_only=False: never do that with these files
        found = re.search(r"(?:Unsupported global|Unsupported operand[^:]*): ?(?:GLOBAL )?([\w.]+)", str(error))
        detail = f" (it refers to {found[1]})" if found else ""
        raise set_aside(
            path,
            what,
            f"holds Python objects that loading would run as code{detail}; this workflow loads only plain "
            "tensors and values, never such a file: it is not written by this workflow",
        ) from None
    except Exception as error:  # foreign or damaged beyond the archive's checksums
        detail = str(error).splitlines()[0] if str(error) else "no detail"
        raise set_aside(
            path, what, f"cannot be read ({type(error).__name__}: {detail}); it is not written by this workflow"
        ) from None


def unusable_folders(root: str | Path, names=("results", "logs", "resources", ".snakemake")) -> list[str]:
    """The workflow's folders, at every depth, that this user cannot read, write or enter: a run
    would stop with a bare PermissionError deep inside Snakemake. A folder that cannot be
    entered is listed, and what lies below it is not looked at."""
    found = []
    for name in names:
        top = Path(root) / name
        if not top.is_dir():
            continue
        for folder, subfolders, _ in os.walk(top, onerror=lambda error: found.append(error.filename)):
            if not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
                found.append(folder)
            # os.walk lists a folder it cannot read through onerror; one it can read but not
            # enter shows up here, and its contents would fail
            subfolders[:] = [d for d in subfolders if not os.path.islink(os.path.join(folder, d))]
    return sorted(dict.fromkeys(str(Path(f)) for f in found))


def save_json(obj, dest: str | Path) -> None:
    import json

    with atomic_path(dest) as tmp, short_writes_named(dest):
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
