"""The official files of each dataset: names (from its format), hosts, and published checksums."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from aedefense.plan.datasets import dataset_info, file_format


@dataclass(frozen=True)
class OfficialFile:
    dataset: str
    name: str
    hosts: tuple[str, ...]  # URL prefixes, tried in order
    md5: str | None  # None: no published checksum (verified by the lock file instead)

    @property
    def urls(self) -> list[str]:
        return [host + self.name for host in self.hosts]


def official_files(dataset: str) -> list[OfficialFile]:
    """The files of a dataset, as its format names them, with its published checksums."""
    info = dataset_info(dataset)
    md5 = dict(info.md5)
    return [OfficialFile(dataset, name, info.hosts, md5.get(name)) for name in file_format(info.layout).files]


def reader_of(dataset: str):
    """The module that reads a dataset's file format (verify_file, read_split_files, ...)."""
    return importlib.import_module(file_format(dataset_info(dataset).layout).reader)


def official_file(dataset: str, name: str) -> OfficialFile:
    for entry in official_files(dataset):
        if entry.name == name:
            return entry
    known = ", ".join(f.name for f in official_files(dataset))
    raise ValueError(f"{name!r} is not a file of {dataset}; its files: {known}")
