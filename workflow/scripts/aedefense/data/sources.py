"""The official files of each dataset: names, hosts, and published checksums."""

from __future__ import annotations

from dataclasses import dataclass

from aedefense.plan.datasets import dataset_info


@dataclass(frozen=True)
class OfficialFile:
    dataset: str
    name: str
    hosts: tuple[str, ...]  # URL prefixes, tried in order
    md5: str | None  # None: no published checksum (verified by the lock file instead)

    @property
    def urls(self) -> list[str]:
        return [host + self.name for host in self.hosts]


# The MD5 sums torchvision uses (the hosts are in aedefense.plan.datasets).
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
BTSC_FILES = {"train": "BelgiumTSC_Training.zip", "test": "BelgiumTSC_Testing.zip"}

_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}


def official_files(dataset: str) -> list[OfficialFile]:
    info = dataset_info(dataset)
    if info.layout == "btsc-zip":
        return [OfficialFile(dataset, name, info.hosts, None) for name in BTSC_FILES.values()]
    return [OfficialFile(dataset, name, info.hosts, md5) for name, md5 in _MD5[dataset].items()]


def official_file(dataset: str, name: str) -> OfficialFile:
    for entry in official_files(dataset):
        if entry.name == name:
            return entry
    known = ", ".join(f.name for f in official_files(dataset))
    raise ValueError(f"{name!r} is not a file of {dataset}; its files: {known}")
