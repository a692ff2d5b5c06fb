"""Tiny datasets in the official formats, laid out as a mirror: <mirror>/<dataset>/<file>.

MNIST / Fashion-MNIST: gzip-compressed IDX files. BTSC: a Training and a Testing zip with one
folder per class (00000 ... 00061) of PPM images and a semicolon-separated GT-<class>.csv.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

IDX_NAMES = {
    ("train", "images"): "train-images-idx3-ubyte.gz",
    ("train", "labels"): "train-labels-idx1-ubyte.gz",
    ("test", "images"): "t10k-images-idx3-ubyte.gz",
    ("test", "labels"): "t10k-labels-idx1-ubyte.gz",
}
BTSC_CLASSES = 62
BTSC_TEST_CLASSES = 53  # the official test split has images in 53 of the 62 folders
GT_HEADER = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"


def idx_bytes(array: np.ndarray) -> bytes:
    magic = 0x0800 | array.ndim  # unsigned bytes
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def class_images(labels: np.ndarray, size: int, channels: int, rng) -> np.ndarray:
    """Images whose content depends on the label (a bright bar at a class-specific row)."""
    images = rng.integers(0, 60, size=(len(labels), channels, size, size), dtype=np.uint8)
    for i, label in enumerate(labels):
        row = (int(label) * 7) % (size - 4)
        images[i, :, row : row + 4, 2:-2] = 200 + (int(label) % 50)
    return images


def write_idx_dataset(mirror: Path, dataset: str, n_train=60, n_test=20, seed=0) -> dict:
    """Write the four IDX.gz files; return the arrays written, for comparison."""
    rng = np.random.default_rng(seed)
    folder = Path(mirror) / dataset
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        rng.shuffle(labels)
        images = class_images(labels, 28, 1, rng)[:, 0]
        arrays[split] = (images, labels)
        for kind, array in (("images", images), ("labels", labels)):
            with gzip.GzipFile(folder / IDX_NAMES[(split, kind)], "wb", mtime=0) as handle:
                handle.write(idx_bytes(array))
    return arrays


def ppm_bytes(array_hwc: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array_hwc, "RGB").save(buffer, format="PPM")
    return buffer.getvalue()


def btsc_zip(path: Path, top: str, per_class: dict[int, int], seed=0, extra_members=(), replaced=None) -> int:
    """One official-layout zip; per_class maps class -> number of images; replaced: member name
    -> the bytes written in place of its image. Returns the count."""
    rng = np.random.default_rng(seed)
    count = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for label in range(BTSC_CLASSES):
            folder = f"{top}/{label:05d}"
            rows = [GT_HEADER]
            for k in range(per_class.get(label, 0)):
                height, width = int(rng.integers(30, 50)), int(rng.integers(30, 50))
                # low-contrast content, so histogram equalisation has visible work to do
                image = rng.integers(90, 130, size=(height, width, 3), dtype=np.uint8)
                image[: height // 2, :, label % 3] += 40
                name = f"{k:05d}_{label:05d}.ppm"
                data = (replaced or {}).get(f"{folder}/{name}", ppm_bytes(image))
                archive.writestr(f"{folder}/{name}", data)
                rows.append(f"{name};{width};{height};2;2;{width - 2};{height - 2};{label}")
                count += 1
            archive.writestr(f"{folder}/GT-{label:05d}.csv", "\n".join(rows) + "\n")
        for name, data in extra_members:
            archive.writestr(name, data)
    return count


def write_btsc(mirror: Path, train_per_class=2, seed=0, extra_members=(), replaced=None) -> dict:
    """Training zip: every class; Testing zip: one image in each of the first 53 classes."""
    folder = Path(mirror) / "btsc"
    folder.mkdir(parents=True, exist_ok=True)
    train = btsc_zip(
        folder / "BelgiumTSC_Training.zip",
        "Training",
        {c: train_per_class for c in range(BTSC_CLASSES)},
        seed,
        extra_members,
        replaced,
    )
    test = btsc_zip(
        folder / "BelgiumTSC_Testing.zip",
        "Testing",
        {c: 1 for c in range(BTSC_TEST_CLASSES)},
        seed + 1,
    )
    return {"train_images": train, "test_images": test}


def write_manifest(mirror: Path, algorithm="md5") -> Path:
    """MD5SUMS or SHA256SUMS at the mirror's root, md5sum format, paths relative to it."""
    mirror = Path(mirror)
    name = {"md5": "MD5SUMS", "sha256": "SHA256SUMS"}[algorithm]
    lines = []
    for path in sorted(p for p in mirror.rglob("*") if p.is_file() and p.parent != mirror):
        digest = hashlib.new(algorithm, path.read_bytes()).hexdigest()
        lines.append(f"{digest}  {path.relative_to(mirror).as_posix()}")
    (mirror / name).write_text("\n".join(lines) + "\n")
    return mirror / name


def tiny_data(n_train=200, n_test=50, size=28, channels=1, classes=10, seed=0):
    """Images of `classes` distinguishable classes as the prepared tensors hold them."""
    import torch

    rng = np.random.default_rng(seed)
    data = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = (np.arange(n) % classes).astype(np.int64)
        images = class_images(labels, size, channels, rng)
        data[split] = {
            "images": torch.from_numpy(images),
            "labels": torch.from_numpy(labels),
            "classes": classes,
        }
    return data
