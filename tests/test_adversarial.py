"""The adversarial-set format: damage is named and the file set aside to be rebuilt."""

import errno
import os

import pytest
from shared_helpers import small_adversarial_set

from aedefense.jobs.adversarial import load_adversarial_set


@pytest.mark.parametrize("damage", ["truncated", "zeroed", "empty"])
def test_a_damaged_adversarial_set_names_itself_and_is_set_aside_to_be_rebuilt(tmp_path, damage):
    path = tmp_path / "cw_eps0.1.pt"
    small_adversarial_set(path)
    assert len(load_adversarial_set(path)["labels"]) == 4
    content = path.read_bytes()
    path.write_bytes({"truncated": content[: len(content) // 2], "zeroed": bytes(len(content)), "empty": b""}[damage])
    with pytest.raises(ValueError) as error:
        load_adversarial_set(path)
    assert str(path) in str(error.value) and "run the same snakemake command again" in str(error.value)
    assert path.stat().st_mtime == 0  # older than its sources: the next run rebuilds it


def test_a_file_that_cannot_be_marked_gets_the_command_that_rebuilds_it(tmp_path, monkeypatch):
    path = tmp_path / "cw_eps0.1.pt"
    small_adversarial_set(path)
    path.write_bytes(path.read_bytes()[:100])

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "utime", refuse)  # a file of another user
    with pytest.raises(ValueError) as error:
        load_adversarial_set(path)
    assert "It could not be marked for rebuilding (Operation not permitted)" in str(error.value)
    assert f"the same snakemake command and --forcerun {path} at its end (after the targets" in str(error.value)
    assert "Delete it" not in str(error.value)
