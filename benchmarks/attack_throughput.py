"""Attack throughput (image-iterations/s) on the paper-shaped stacked models, beside the bare
forward+backward throughput of the same model (the practical limit of any gradient attack).

    python benchmarks/attack_throughput.py [--batch 500] [--iterations 20] [--threads 2] [--device auto]

Models: AE + classifier and VAE (z = mu) + classifier with config.yaml's architectures, for
MNIST-size (1x28x28) and BTSC-size (3x32x32) inputs, untrained (speed does not depend on the
weights). Same images, iterations and batch for every row.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from aedefense.attacks import cw_box, frozen, pgd_box  # noqa: E402
from aedefense.models import Classifier, DefendedModel  # noqa: E402
from aedefense.training import build_autoencoder, select_device  # noqa: E402

SHAPES = {"MNIST": ((1, 28, 28), 10), "BTSC": ((3, 32, 32), 62)}


def timed(fn, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def bare_forward_backward(model, x, labels, iterations):
    """What every gradient attack must do per iteration: one forward, one input gradient."""
    delta = torch.zeros_like(x, requires_grad=True)
    with frozen(model):
        for _ in range(iterations):
            logits = model(x + delta)
            (grad,) = torch.autograd.grad(logits.gather(1, labels[:, None]).sum(), delta)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = select_device(args.device)
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    cw = config["attacks"]["cw"]
    print(f"device {device}, {args.threads} threads, batch {args.batch}, {args.iterations} iterations, torch {torch.__version__}")
    print(f"{'model':<22} {'attack':<22} {'img-it/s':>10} {'/ limit':>8}")
    n = args.batch * args.iterations
    for data, (shape, classes) in SHAPES.items():
        generator = torch.Generator().manual_seed(0)
        x = torch.rand(args.batch, *shape, generator=generator).to(device)
        labels = torch.randint(0, classes, (args.batch,), generator=generator).to(device)
        c = config["classifier"]
        classifier = Classifier(shape, classes, c["blocks"], c["channels"], c["dense"], c["dropout"])
        for family in ("ae", "vae"):
            autoencoder = build_autoencoder(shape, family, config["autoencoder"])
            model = DefendedModel(classifier, autoencoder, "mean").to(device).eval()
            name = f"{family.upper()}+classifier {data}"
            bare_forward_backward(model, x, labels, 2)  # warm-up
            limit = n / timed(lambda: bare_forward_backward(model, x, labels, args.iterations), device)
            rows = {
                "bare forward+backward": limit,
                "ours: CW in the box": n / timed(
                    lambda: cw_box(model, x, labels, 0.1, cw["lr"], args.iterations, cw["gamma"], cw["kappa"], cw["distance"]),
                    device,
                ),
                "ours: PGD": n / timed(lambda: pgd_box(model, x, labels, 0.1, args.iterations), device),
            }
            for attack, rate in rows.items():
                print(f"{name:<22} {attack:<22} {rate:>10.0f} {rate / limit:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
