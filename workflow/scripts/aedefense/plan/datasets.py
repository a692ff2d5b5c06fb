"""The datasets the workflow knows, one record each: wherever the datasets differ, the code
reads it here rather than asking for a dataset by name. Torch-free (the Snakefile reads it at
parse time)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dataset:
    name: str  # as in config.yaml and the file paths
    title: str  # in figures
    classes: int
    shape: tuple[int, int, int]  # channels, height, width of the prepared images
    official_train_images: int  # the official training split (the estimate's default)
    # "idx": four IDX.gz files with published MD5s; "btsc-zip": a Training and a Testing zip
    # of PPM folders, without published checksums (checked against data.<name>.expected)
    layout: str
    # which test images are attacked: "first" N, or N drawn with seeds.attack_subset ("random")
    attacked: str
    preprocessing: str
    # where the official files are published: URL prefixes, tried in order (torchvision's)
    hosts: tuple[str, ...]


def _idx(name: str, title: str, hosts: tuple[str, ...]) -> Dataset:
    """An MNIST-like set: 10 classes of 28 x 28 grey images in four IDX files, the first N
    test images attacked."""
    return Dataset(name, title, 10, (1, 28, 28), 60_000, "idx", "first", "official IDX, unchanged", hosts)


DATASETS = {
    dataset.name: dataset
    for dataset in (
        _idx("mnist", "MNIST", ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")),
        _idx("fashion-mnist", "FashionMNIST", ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)),
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
