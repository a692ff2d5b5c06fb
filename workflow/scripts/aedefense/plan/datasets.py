"""The datasets the workflow knows and the file formats they are published in, one record each:
wherever the datasets differ, the code reads it here rather than asking for a dataset by name.
Torch-free (the Snakefile reads it at parse time). A new dataset is a record here; one in a new
file format adds a FileFormat record here and its reader module in aedefense/data/
(docs/extending.md).

>>> file_format(dataset_info("mnist").layout).split_files["test"]
('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz')
"""

from __future__ import annotations

from dataclasses import dataclass

SPLITS = ("train", "test")


@dataclass(frozen=True)
class FileFormat:
    name: str
    # each split's files, in the order its reader takes them
    split_files: dict[str, tuple[str, ...]]
    # True: each file has a published checksum (the dataset's `md5`); False: none is published,
    # and what the files hold is checked against data.<dataset>.expected of the config
    published_checksums: bool
    # the module that reads the format, with verify_file(path, split, dataset, expected) (raise
    # ValueError unless a downloaded file is whole), read_split_files(paths, split, dataset,
    # expected, set_aside) -> (images uint8 (N, C, H, W), labels int64 (N,)), set_aside(paths)
    # a context that moves unreadable files aside, and count_training_images(path) for the
    # file named by training_count_file where that is set (the estimate reads it)
    reader: str
    training_count_file: str | None = None

    @property
    def files(self) -> list[str]:
        return [name for split in SPLITS for name in self.split_files[split]]

    def split_of(self, name: str) -> str:
        return next(split for split in SPLITS if name in self.split_files[split])


FORMATS = {
    record.name: record
    for record in (
        # MNIST-like: images and labels of each split in gzip-compressed IDX files
        FileFormat(
            "idx",
            {
                "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
            },
            published_checksums=True,
            reader="aedefense.data.idx",
            training_count_file="train-labels-idx1-ubyte.gz",
        ),
        # BTSC: a Training and a Testing zip of PPM folders, one per class, with GT csv files
        FileFormat(
            "btsc-zip",
            {"train": ("BelgiumTSC_Training.zip",), "test": ("BelgiumTSC_Testing.zip",)},
            published_checksums=False,
            reader="aedefense.data.btsc",
        ),
    )
}


@dataclass(frozen=True)
class Dataset:
    name: str  # as in config.yaml and the file paths
    title: str  # in figures
    classes: int
    shape: tuple[int, int, int]  # channels, height, width of the prepared images
    official_train_images: int  # the official training split (the estimate's default)
    # its file format, a key of FORMATS
    layout: str
    # which test images are attacked: "first" N, or N drawn with seeds.attack_subset ("random")
    attacked: str
    preprocessing: str
    # where the official files are published: URL prefixes, tried in order (torchvision's)
    hosts: tuple[str, ...]
    # the published MD5 of each file (torchvision's), where the format has them
    md5: tuple[tuple[str, str], ...] = ()


def _idx(name: str, title: str, hosts: tuple[str, ...], md5: dict[str, str]) -> Dataset:
    """An MNIST-like set: 10 classes of 28 x 28 grey images in four IDX files, the first N
    test images attacked."""
    return Dataset(
        name, title, 10, (1, 28, 28), 60_000, "idx", "first", "official IDX, unchanged", hosts, tuple(md5.items())
    )


DATASETS = {
    dataset.name: dataset
    for dataset in (
        _idx(
            "mnist",
            "MNIST",
            ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
            {
                "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
                "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
                "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
            },
        ),
        _idx(
            "fashion-mnist",
            "FashionMNIST",
            ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
            {
                "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
                "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
                "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
            },
        ),
        Dataset(
            "btsc",
            "BTSC",
            62,
            (3, 32, 32),
            4_575,
            "btsc-zip",
            "random",
            "HSV V-channel histogram equalisation, bilinear resize to 32x32 RGB, no ROI crop",
            ("https://btsd.ethz.ch/shareddata/BelgiumTSC/",),
        ),
    )
}


def dataset_info(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


def file_format(name: str) -> FileFormat:
    if name not in FORMATS:
        raise ValueError(f"unknown dataset file format {name!r}; known: {', '.join(FORMATS)}")
    return FORMATS[name]
