"""Prepared datasets: results/{dataset}/data/{train,test}.pt, written once, loaded safely.

Each file holds a dict: images (uint8, N x C x H x W), labels (int64, N), and metadata
(dataset, split, classes, the sha256 of the source files, the preprocessing).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from aedefense.data.sources import reader_of
from aedefense.files.io import DamagedInput, load_torch, save_torch, set_aside
from aedefense.files.provenance import identity_mismatches, sha256_of
from aedefense.plan.datasets import DATASETS, SPLITS, dataset_info, file_format

FORMAT_VERSION = 1


def to_unit(images_uint8: torch.Tensor) -> torch.Tensor:
    """Prepared uint8 images as floats in [0, 1], the models' input."""
    return images_uint8.float().div_(255.0)


def _record(dataset, split, images, labels, sources) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "dataset": dataset,
        "split": split,
        "classes": dataset_info(dataset).classes,
        "preprocessing": dataset_info(dataset).preprocessing,
        "sources": {Path(p).name: sha256_of(p) for p in sources},
        "images": torch.from_numpy(np.ascontiguousarray(images)),
        "labels": torch.from_numpy(labels),
    }


@contextmanager
def broken_raw_files_set_aside(paths: list[Path]):
    """A raw file that cannot be read is moved aside to <name>.broken, so that the next run
    downloads it again: the download rule has no inputs, so only a missing file reruns it."""
    try:
        yield
    except ValueError as error:
        moved = []
        for path in paths:
            aside = path.with_name(path.name + ".broken")
            os.replace(path, aside)
            moved.append(str(aside))
        raise DamagedInput(
            f"{error}\nThe raw file{'s' if len(paths) > 1 else ''} {', '.join(map(str, paths))} moved to "
            f"{', '.join(moved)}: the same snakemake command downloads {'them' if len(paths) > 1 else 'it'} again. "
            "If the same error comes back, the copy at the source is broken although its checksum list vouches "
            "for it: replace it there, or give another mirror (--config mirror=DIR)."
        ) from None


def prepare(dataset: str, raw_dir: str | Path, outputs: dict, expected: dict | None = None):
    """Read the verified raw files in raw_dir; write outputs['train'] and outputs['test']."""
    raw_dir = Path(raw_dir)
    info = dataset_info(dataset)
    records = {}
    layout, reader = file_format(info.layout), reader_of(dataset)
    for split in SPLITS:
        sources = [raw_dir / name for name in layout.split_files[split]]
        images, labels = reader.read_split_files(sources, split, info, expected, broken_raw_files_set_aside)
        if images.shape[1:] != info.shape:
            raise ValueError(f"{dataset} {split}: images of shape {images.shape[1:]}, expected {info.shape}")
        records[split] = _record(dataset, split, images, labels, sources)
    for split, record in records.items():  # write only when both splits have been read
        save_torch(record, outputs[split])
    return records


def load_prepared(path: str | Path, *, dataset: str | None = None, split: str | None = None) -> dict:
    """A prepared split, checked; a damaged one is set aside with an error that says so, and so
    is one of another dataset or split than the job reads (`dataset`, `split`; None: any)."""
    what = "prepared dataset"
    record = load_torch(path, what)
    keys = {"format_version", "dataset", "split", "classes", "images", "labels"}
    if not isinstance(record, dict) or not keys <= set(record):
        raise set_aside(path, what, f"lacks {sorted(keys)}; it is not written by prepare")
    images, labels = record["images"], record["labels"]
    if (
        record["format_version"] != FORMAT_VERSION
        or images.dtype != torch.uint8
        or labels.dtype != torch.int64
        or images.ndim != 4
        or len(images) != len(labels)
        or record.get("dataset") not in DATASETS
        or tuple(images.shape[1:]) != DATASETS[record["dataset"]].shape
    ):
        raise set_aside(path, what, "has an unexpected layout or version")
    expected = {key: value for key, value in (("dataset", dataset), ("split", split)) if value is not None}
    problems = identity_mismatches(record, expected)
    if problems:
        raise set_aside(
            path,
            what,
            "is not the data this job reads (copied from another split or dataset?): " + "; ".join(problems),
        )
    return record
