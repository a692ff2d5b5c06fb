"""Belgian Traffic Signs for Classification: the official zips, checked and preprocessed.

Layout of BelgiumTSC_{Training,Testing}.zip: <Top>/<class as 5 digits>/ holding PPM images and
GT-<class>.csv (semicolon-separated: Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId).
Members are read in memory and never extracted; an archive with a member whose path would
leave its folder (absolute, '..', a drive, a symlink), or that would inflate beyond
MAX_MEMBER_BYTES (or the whole archive beyond MAX_ARCHIVE_BYTES), is refused outright.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
import zlib
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SIZE = 32
# The official images are photographs of a few hundred pixels a side: well under 2 MiB as PPM.
# The caps bound what a damaged or hostile zip can make this process hold in memory.
MAX_MEMBER_BYTES = 16 << 20
MAX_ARCHIVE_BYTES = 2 << 30
_MEMBER = re.compile(r"^(?:[^/]+/)?(?P<label>\d{5})/(?P<file>[^/]+)$")
_SYMLINK = 0o120000


def check_member_names(archive: zipfile.ZipFile, path: Path) -> None:
    for info in archive.infolist():
        name = info.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        mode = info.external_attr >> 16
        if (
            name.startswith(("/", "\\"))
            or re.match(r"^[A-Za-z]:", name)
            or ".." in parts
            or (mode & 0o170000) == _SYMLINK
        ):
            raise ValueError(
                f"{path}: member {name!r} would escape the dataset folder (absolute path, '..', "
                "drive or symlink); refusing this archive. Download the official zip again."
            )


def check_member_sizes(archive: zipfile.ZipFile, path: Path) -> None:
    """Refuse members that declare more than MAX_MEMBER_BYTES, or a total beyond MAX_ARCHIVE_BYTES,
    before any is inflated."""
    total = 0
    for info in archive.infolist():
        total += info.file_size
        if info.file_size > MAX_MEMBER_BYTES:
            raise ValueError(
                f"{path}: member {info.filename!r} inflates to {info.file_size} bytes from {info.compress_size} "
                f"(cap {MAX_MEMBER_BYTES} bytes a member); no image of the dataset is that large: refusing this "
                "archive. Download the official zip again."
            )
    if total > MAX_ARCHIVE_BYTES:
        raise ValueError(
            f"{path}: its members inflate to {total} bytes in all (cap {MAX_ARCHIVE_BYTES}); refusing this archive. "
            "Download the official zip again."
        )


def read_member(archive: zipfile.ZipFile, name: str, path: Path) -> bytes:
    """A member's bytes, read no further than MAX_MEMBER_BYTES whatever its header declares."""
    with archive.open(name) as handle:
        data = handle.read(MAX_MEMBER_BYTES + 1)
    if len(data) > MAX_MEMBER_BYTES:
        raise ValueError(f"{path}: member {name!r} inflates beyond {MAX_MEMBER_BYTES} bytes; refusing this archive")
    return data


@dataclass
class ZipContents:
    images: dict[int, list[str]]  # label -> image member names
    ground_truth: dict[int, str]  # label -> GT csv member name


def inspect_zip(path: str | Path) -> ZipContents:
    """Check CRCs and member names; list images and ground-truth files per class folder."""
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"{path}: not a readable zip ({error}); truncated or corrupt") from None
    with archive:
        check_member_names(archive, path)
        check_member_sizes(archive, path)
        try:
            bad = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as error:
            raise ValueError(f"{path}: corrupt zip ({error})") from None
        if bad is not None:
            raise ValueError(f"{path}: member {bad!r} fails its CRC check; the zip is corrupt")
        images, ground_truth = defaultdict(list), {}
        for name in archive.namelist():
            match = _MEMBER.match(name)
            if not match:
                continue
            label, file = int(match["label"]), match["file"]
            if file.lower().endswith(".ppm"):
                images[label].append(name)
            elif file == f"GT-{match['label']}.csv":
                ground_truth[label] = name
    return ZipContents(dict(images), ground_truth)


@contextmanager
def open_image(archive: zipfile.ZipFile, member: str, path: Path):
    """A member's image, its header read and checked before any pixel is decoded: a header may
    announce far more pixels than the member holds (a decompression bomb)."""
    try:
        image = Image.open(io.BytesIO(read_member(archive, member, path)))
    except (Image.DecompressionBombError, UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ValueError(
            f"{path}: member {member!r} is not a readable image ({type(error).__name__}: {error}); "
            "refusing this archive"
        ) from None
    with image:
        if image.width * image.height * 3 > MAX_MEMBER_BYTES:
            raise ValueError(
                f"{path}: member {member!r} announces a {image.width}x{image.height} image, more than "
                f"{MAX_MEMBER_BYTES} bytes of pixels; refusing this archive"
            )
        yield image


def check_image_headers(path: Path, contents: ZipContents) -> None:
    """Read every image's header (not its pixels): an archive with one that cannot be decoded
    is refused when it is downloaded, not later in prepare."""
    with zipfile.ZipFile(path) as archive:
        for members in contents.images.values():
            for member in members:
                with open_image(archive, member, path):
                    pass


def verify_zip(path: str | Path, split: str, expected: dict, classes: int) -> ZipContents:
    """The counts the official release is known by, and every image's header; `split` is
    'train' or 'test', `classes` the dataset's class count (one folder each)."""
    contents = inspect_zip(path)
    count = sum(len(v) for v in contents.images.values())
    want = expected[f"{split}_images"]
    problems = []
    if count != want:
        problems.append(f"{count} images, expected {want}")
    if any(label >= classes for label in contents.images):
        problems.append(f"class folders beyond {classes - 1:05d}")
    if split == "train" and len(contents.images) != classes:
        problems.append(f"images in {len(contents.images)} class folders, expected {classes}")
    missing_gt = sorted(set(contents.images) - set(contents.ground_truth))
    if missing_gt:
        problems.append(f"no GT-<class>.csv in class folders {missing_gt[:5]}")
    if problems:
        raise ValueError(f"{path} is not the expected BTSC {split} split: " + "; ".join(problems))
    check_image_headers(Path(path), contents)
    return contents


def preprocess(image: Image.Image) -> np.ndarray:
    """Equalise the histogram of the V channel in HSV, resize to 32x32 RGB; (3, 32, 32) uint8."""
    hue, saturation, value = image.convert("RGB").convert("HSV").split()
    equalised = Image.merge("HSV", (hue, saturation, ImageOps.equalize(value))).convert("RGB")
    resized = equalised.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8).transpose(2, 0, 1)


def read_split(path: str | Path, split: str, expected: dict, classes: int):
    """(images uint8 (N, 3, 32, 32), labels int64 (N,)), ordered by class then file name."""
    path = Path(path)
    contents = verify_zip(path, split, expected, classes)
    images, labels = [], []
    with zipfile.ZipFile(path) as archive:
        for label in sorted(contents.images):
            folder_images = set(contents.images[label])
            prefix = contents.ground_truth[label].rsplit("/", 1)[0]
            text = read_member(archive, contents.ground_truth[label], path).decode("utf-8-sig")
            rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
            listed = set()
            for row in sorted(rows, key=lambda r: r["Filename"]):
                member = f"{prefix}/{row['Filename']}"
                if member not in folder_images:
                    raise ValueError(f"{path}: {contents.ground_truth[label]} lists {member!r}, absent")
                if int(row["ClassId"]) != label:
                    raise ValueError(f"{path}: {member} has ClassId {row['ClassId']} in folder {label:05d}")
                listed.add(member)
                with open_image(archive, member, path) as image:
                    images.append(preprocess(image))
                labels.append(label)
            unlisted = sorted(folder_images - listed)
            if unlisted:
                raise ValueError(f"{path}: {len(unlisted)} images are not in their GT csv, e.g. {unlisted[0]}")
    return np.stack(images), np.asarray(labels, dtype=np.int64)


# The reader contract of a dataset file format (aedefense.plan.datasets.FileFormat.reader)


def verify_file(path, split, dataset, expected) -> None:
    verify_zip(path, split, expected, dataset.classes)


def read_split_files(paths, split, dataset, expected, set_aside):
    with set_aside(paths):
        return read_split(paths[0], split, expected, dataset.classes)
