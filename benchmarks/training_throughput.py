"""Training throughput (images/s) of each model type through the workflow's own training code,
beside a bare PyTorch loop over the same model, loss and optimiser (the limit).

    python benchmarks/training_throughput.py [--images 2000] [--threads 2] [--device auto]

Each model trains two epochs on synthetic data of the paper's shapes (MNIST 1x28x28,
BTSC 3x32x32) with config.yaml's settings; the second epoch is timed (the first warms up).
The bare loop: shuffled batches, the same forward and loss terms, backward, Adam step; no
running sums, no logging, no KL warm-up schedule, no per-epoch test pass.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

sys.path.insert(0, str(Path(__file__).resolve().parent))  # flops.py beside it

from benchmark_setup import start_benchmark  # noqa: E402
from flops import matmul_peak_gflops, training_step_flops  # noqa: E402

from aedefense.core import losses  # noqa: E402
from aedefense.core.models import Classifier, build_autoencoder  # noqa: E402
from aedefense.data.prepared import to_unit  # noqa: E402
from aedefense.jobs.training import (  # noqa: E402
    autoencoder_loss,
    contractive_penalty,
    train_autoencoder,
    train_classifier,
)
from aedefense.plan.cells import Cell  # noqa: E402
from aedefense.plan.datasets import DATASETS  # noqa: E402
from aedefense.plan.params import classifier_settings  # noqa: E402

SHAPES = {name: DATASETS[name].shape for name in ("mnist", "btsc")}
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


def step_flops(data, cell, settings, device, batch: int = 8) -> float:
    """FLOPs per image of one training step of the bare loop (torch's count of products and
    convolutions), on `batch` images."""
    images = data["train"]["images"][:batch].to(device)
    labels = data["train"]["labels"][:batch].to(device)
    shape = tuple(images.shape[1:])
    if cell is None:
        model = Classifier(
            shape, data["train"]["classes"], settings["blocks"], settings["channels"], settings["dense"], 0.0
        ).to(device)
        return training_step_flops(lambda: torch.nn.functional.cross_entropy(model(to_unit(images)), labels), batch)
    model = build_autoencoder(shape, cell.family, settings).to(device).train()

    def loss():
        x_in, target = losses.training_pair(to_unit(images), cell.stp, cell.denoising)
        value, _ = autoencoder_loss(model, x_in, target, kl_scale=1.0)
        return value + cell.alpha * contractive_penalty(model, x_in, settings) if cell.alpha > 0 else value

    return training_step_flops(loss, batch)


def bare_epoch_seconds(data, cell, settings, device) -> float:
    """Seconds for the second of two epochs of the bare loop."""
    images = data["train"]["images"].to(device)
    labels = data["train"]["labels"].to(device)
    shape = tuple(images.shape[1:])
    if cell is None:
        model = Classifier(
            shape,
            data["train"]["classes"],
            settings["blocks"],
            settings["channels"],
            settings["dense"],
            settings["dropout"],
        ).to(device)
    else:
        model = build_autoencoder(shape, cell.family, settings).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"])
    model.train()
    for _ in range(2):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for index in torch.randperm(len(images), device=device).split(settings["batch_size"]):
            x = to_unit(images[index])
            if cell is None:
                loss = torch.nn.functional.cross_entropy(model(x), labels[index])
            else:
                x_in, target = losses.training_pair(x, cell.stp, cell.denoising)
                loss, _ = autoencoder_loss(model, x_in, target, kl_scale=1.0)
                if cell.alpha > 0:
                    loss = loss + cell.alpha * contractive_penalty(model, x_in, settings)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    return seconds


def estimator_of(row: str) -> str:
    """The contractive penalty a row trains with, named by the row, never config.yaml's: the
    rows measure each estimator whatever the config trains with.

    >>> estimator_of("CAE (exact)"), estimator_of("CAE (projection)"), estimator_of("AE")
    ('exact', 'projection', 'projection')
    """
    return "exact" if "(exact)" in row else "projection"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=2000, help="training images per measured epoch (default 2000)")
    parser.add_argument(
        "--exact-images",
        type=int,
        default=200,
        help="images per epoch for the exact contractive penalty (~80x slower on a CPU)",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument(
        "--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto: CUDA when present (default)"
    )
    return parser


def main():
    args, device, config = start_benchmark(build_parser())
    print(f"device {device}, {args.threads} threads, {args.images} images per epoch, torch {torch.__version__}")
    peak = matmul_peak_gflops(device)
    print(f"fp32 matrix product (1024 x 1024) on this machine: {peak:.0f} GFLOP/s, the peak each row is set against")
    print(
        f"{'model':<18} {'shape':<10} {'ours img/s':>11} {'bare img/s':>11} {'ours / bare':>12} "
        f"{'GFLOP/s':>8} {'of peak':>8}"
    )
    quiet = lambda _: None  # noqa: E731
    for dataset, shape in SHAPES.items():
        classes = DATASETS[dataset].classes
        for name, cell in MODELS.items():
            images = args.exact_images if "exact" in name else args.images
            data = synthetic(shape, images, classes)
            if cell is None:
                settings = dict(classifier_settings(config, dataset), epochs=2)
                _, metrics = train_classifier(data, settings, device, log=quiet)
            else:
                settings = dict(config["autoencoder"], seed=0, epochs=2)
                settings["contractive"] = estimator_of(name)
                _, metrics = train_autoencoder(data, cell, settings, device, log=quiet)
            ours = images / metrics["history"][-1]["seconds"]
            bare = images / bare_epoch_seconds(data, cell, settings, device)
            gflops = ours * step_flops(data, cell, settings, device) / 1e9
            print(
                f"{name:<18} {'x'.join(map(str, shape)):<10} {ours:>11.0f} {bare:>11.0f} {ours / bare:>12.2f} "
                f"{gflops:>8.1f} {gflops / peak:>8.2f}",
                flush=True,
            )
    print(
        "\nGFLOP/s: ours img/s times the FLOPs of one training step per image (torch's count of "
        "products and convolutions, forward and backward); of peak: its share of the matrix product's rate."
    )


if __name__ == "__main__":
    main()
