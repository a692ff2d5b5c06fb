"""Atomic writes: a full disk is named, a killed writer leaves nothing that looks complete."""

import errno
import os
import subprocess

import pytest
import torch

from aedefense.files.io import atomic_path, short_writes_named


def test_a_full_disk_is_named_as_such(tmp_path):
    """torch says "enforce fail at inline_container.cc ... unexpected pos" when a write stops
    short; the user is told the disk is full, and what to do."""
    dest = tmp_path / "results" / "model.pt"
    dest.parent.mkdir()
    with pytest.raises(OSError) as error, short_writes_named(dest), open("/dev/full", "wb") as full:
        torch.save({"weights": torch.zeros(100_000)}, full)
    message = str(error.value)
    assert error.value.errno == errno.ENOSPC
    assert f"No space left on device: writing {dest} stopped part-way" in message and "MiB free there now" in message
    assert "snakemake -d DIR" in message and "unexpected pos" not in message


def test_temporary_files_of_a_killed_writer_go_with_the_next_write(tmp_path):
    dest = tmp_path / "classifier.pt"
    child = subprocess.Popen(["true"])
    child.wait()  # its pid now names no process: a writer that was killed
    stale = tmp_path / f".classifier.pt.part-{child.pid}"
    live = tmp_path / f".classifier.pt.part-{os.getppid()}"  # a writer still running
    other = tmp_path / ".model.pt.part-999999"  # another file's
    for path in (stale, live, other):
        path.write_bytes(b"half")
    with atomic_path(dest) as tmp:
        tmp.write_bytes(b"whole")
    assert dest.read_bytes() == b"whole"
    assert not stale.exists() and live.exists() and other.exists()
