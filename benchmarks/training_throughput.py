"""Training throughput (images/s) of each model type, through the workflow's own training code.

    python benchmarks/training_throughput.py [--images 2000] [--threads 2] [--device auto]

Each model trains two epochs on synthetic data of the paper's shapes (MNIST 1x28x28,
BTSC 3x32x32) with config.yaml's settings; the second epoch is timed (the first warms up).
Prints one row per model type and shape.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from aedefense.cells import Cell  # noqa: E402
from aedefense.settings import classifier_settings  # noqa: E402
from aedefense.training import select_device, train_autoencoder, train_classifier  # noqa: E402

SHAPES = {"mnist": (1, 28, 28), "btsc": (3, 32, 32)}
MODELS = {
    "classifier": None,
    "AE": Cell("ae", False, 0.1, 0.0),
    "DAE": Cell("ae", True, 0.1, 0.0),
    "VAE (gaussian)": Cell("vae", False, 0.1, 0.0),
    "CAE (exact)": Cell("ae", False, 0.1, 0.1),
    "CAE (projection)": Cell("ae", False, 0.1, 0.1),
    "CVAE (exact)": Cell("vae", False, 0.1, 0.1),
}


def synthetic(shape, images, classes, seed=0):
    generator = torch.Generator().manual_seed(seed)
    split = {
        "images": torch.randint(0, 256, (images, *shape), dtype=torch.uint8, generator=generator),
        "labels": torch.randint(0, classes, (images,), generator=generator),
        "classes": classes,
    }
    return {"train": split, "test": {k: (v[:100] if torch.is_tensor(v) else v) for k, v in split.items()}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = select_device(args.device)
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    print(f"device {device}, {args.threads} threads, {args.images} images per epoch, torch {torch.__version__}")
    print(f"{'model':<18} {'shape':<10} {'images/s':>10}")
    quiet = lambda _: None  # noqa: E731
    for dataset, shape in SHAPES.items():
        classes = 62 if dataset == "btsc" else 10
        data = synthetic(shape, args.images, classes)
        for name, cell in MODELS.items():
            if cell is None:
                settings = dict(classifier_settings(config, dataset), epochs=2)
                _, metrics = train_classifier(data, settings, device, log=quiet)
            else:
                settings = dict(config["autoencoder"], seed=0, epochs=2)
                if "projection" in name:
                    settings["contractive"] = "projection"
                _, metrics = train_autoencoder(data, cell, settings, device, log=quiet)
            seconds = metrics["history"][-1]["seconds"]
            print(f"{name:<18} {'x'.join(map(str, shape)):<10} {args.images / seconds:>10.0f}", flush=True)


if __name__ == "__main__":
    main()
