"""The IDX format of MNIST and Fashion-MNIST (gzip-compressed), read with checks."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

IMAGES_MAGIC = 2051  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # unsigned bytes, 1 dimension


def _read_gzip(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read()
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"{path}: not a complete gzip file ({error})") from None


def _header(path: Path, blob: bytes) -> tuple[int, ...]:
    """The shape an IDX file's header announces (blob: at least its first 16 bytes)."""
    if len(blob) < 8:
        raise ValueError(f"{path}: too short for an IDX header ({len(blob)} bytes)")
    (magic,) = struct.unpack(">I", blob[:4])
    if magic not in (IMAGES_MAGIC, LABELS_MAGIC):
        raise ValueError(
            f"{path}: magic number {magic} is neither {IMAGES_MAGIC} (images) nor "
            f"{LABELS_MAGIC} (labels); not an MNIST-style IDX file"
        )
    ndim = magic & 0xFF
    if len(blob) < 4 + 4 * ndim:
        raise ValueError(f"{path}: too short for an IDX header ({len(blob)} bytes)")
    return struct.unpack(f">{ndim}I", blob[4 : 4 + 4 * ndim])


def idx_length(path: str | Path) -> int:
    """The number of items (images or labels) an IDX file's header announces, read without
    decompressing the rest."""
    path = Path(path)
    try:
        with gzip.open(path, "rb") as handle:
            return _header(path, handle.read(16))[0]
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"{path}: not a readable gzip file ({error})") from None


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX array of unsigned bytes: (N, rows, cols) images or (N,) labels."""
    path = Path(path)
    blob = _read_gzip(path)
    shape = _header(path, blob)
    header = 4 + 4 * len(shape)
    expected = int(np.prod(shape))
    if len(blob) - header != expected:
        raise ValueError(
            f"{path}: header announces shape {shape} ({expected} bytes of data), the file holds {len(blob) - header}"
        )
    return np.frombuffer(blob, dtype=np.uint8, offset=header).reshape(shape)


def read_split(images_path: str | Path, labels_path: str | Path, classes: int = 10):
    """(images uint8 (N, 1, 28, 28), labels int64 (N,)) with consistency checks."""
    return pair_split(read_idx(images_path), read_idx(labels_path), images_path, labels_path, classes)


def pair_split(images: np.ndarray, labels: np.ndarray, images_path, labels_path, classes: int = 10):
    """The images and labels of one split, as read_split returns them, checked to belong together."""
    if images.ndim != 3 or labels.ndim != 1:
        raise ValueError(
            f"{images_path} / {labels_path}: expected 3-d images and 1-d labels, "
            f"got shapes {images.shape} and {labels.shape}"
        )
    if len(images) != len(labels):
        raise ValueError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")
    if labels.size and labels.max() >= classes:
        raise ValueError(f"{labels_path}: label {labels.max()} outside 0..{classes - 1}")
    return images[:, None, :, :].copy(), labels.astype(np.int64)


# The reader contract of a dataset file format (aedefense.plan.datasets.FileFormat.reader)


def verify_file(path, split, dataset, expected) -> None:
    read_idx(path)  # a complete gzip holding a well-formed IDX array


def read_split_files(paths, split, dataset, expected, set_aside):
    arrays = []
    for path in paths:  # an unreadable file is set aside alone
        with set_aside([path]):
            arrays.append(read_idx(path))
    with set_aside(paths):
        return pair_split(*arrays, *paths, classes=dataset.classes)


def count_training_images(path) -> int:
    return idx_length(path)
