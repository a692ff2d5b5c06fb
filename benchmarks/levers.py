"""Speed levers side by side in one run, each against today's code path, with the agreement of
what it computes: an attack (CW in the box, config.yaml's settings and batch), an evaluation
forward (config.yaml's evaluation batch) and training steps (a plain AE, config.yaml's batch).

    python benchmarks/levers.py [--device auto] [--threads 1] [--iterations 5] [--attack-batch N] [--compile]

Levers (a lever that does not apply to the device or the workload is skipped):
  pieces         the model on cpu_forward_batch images at a time (CPU; jobs run it)
  channels_last  the models and images in channels-last memory format
  folded         the classifier's BatchNorm folded into its convolutions, max-pool before
                 ReLU (aedefense.core.models.folded; attack and evaluation)
  tf32           TF32 matrix products and convolutions (CUDA)
  compile        torch.compile of the model (--compile: minutes to compile on a CPU; the
                 compile seconds are printed apart from the rate)
  kept           every lever the jobs now take, together: pieces, and with config.yaml's
                 fast_forward the folded classifier in channels-last memory on a CPU
                 (attack and evaluation; training takes none)
Today's path is the code path before the levers: the whole batch, the models as trained.
Each row: seconds of today's path and of the lever, their ratio, and the largest difference of
the output (the adversarial images, the logits, the training loss after the last step).
Models untrained (speed does not depend on the weights), MNIST's shape unless --shape btsc.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmark_setup.py beside it

from benchmark_setup import start_benchmark  # noqa: E402

from aedefense.core.attacks import cw_box  # noqa: E402
from aedefense.core.models import (  # noqa: E402
    Classifier,
    DefendedModel,
    InPieces,
    build_autoencoder,
    fast_forward_form,
    folded,
    in_pieces_on_cpu,
)
from aedefense.plan.datasets import DATASETS  # noqa: E402

LEVERS = ("pieces", "channels_last", "folded", "tf32", "compile", "kept")


def applies(lever: str, workload: str, device: torch.device, args) -> bool:
    return {
        "pieces": device.type == "cpu",
        "channels_last": True,
        "folded": workload != "training",
        "tf32": device.type == "cuda",
        "compile": args.compile,
        "kept": workload != "training",
    }[lever]


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def seconds_of(fn, device) -> tuple[float, object]:
    synchronize(device)
    start = time.perf_counter()
    out = fn()
    synchronize(device)
    return time.perf_counter() - start, out


def build(config, shape, classes, device, seed=0):
    torch.manual_seed(seed)
    c = config["classifier"]
    classifier = Classifier(shape, classes, c["blocks"], c["channels"], c["dense"], c["dropout"])
    autoencoder = build_autoencoder(shape, "ae", config["autoencoder"])
    return DefendedModel(classifier, autoencoder, "mean").to(device).eval(), autoencoder.to(device)


def with_lever(lever, model, x, config):
    """(model, images) as the lever runs them; a lever that changes a global switch sets it."""
    if lever == "pieces":
        return InPieces(model, config["cpu_forward_batch"]), x
    if lever == "channels_last":
        return model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    if lever == "folded":
        return DefendedModel(folded(model.classifier), model.autoencoder).eval(), x
    if lever == "kept":
        parts = model.classifier, model.autoencoder
        if config["fast_forward"]:
            parts = fast_forward_form(*parts, x.device)
        return in_pieces_on_cpu(DefendedModel(*parts).eval(), x.device, config["cpu_forward_batch"]), x
    if lever == "tf32":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        return model, x
    return torch.compile(model), x


def reset_switches():
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False


def workloads(config, args, shape, classes, device):
    """name -> (images, run(model, x, autoencoder) -> output to compare)."""
    cw = {k: config["attacks"]["cw"][k] for k in ("lr", "gamma", "kappa", "distance")}
    generator = torch.Generator().manual_seed(1)
    attack_batch = args.attack_batch or config["attacks"]["cw"]["batch_size"]
    labels = torch.randint(0, classes, (attack_batch,), generator=generator).to(device)

    def attack(model, x, _):
        return cw_box(model, x, labels[: len(x)], eps=0.1, iterations=args.iterations, **cw).adversarial

    @torch.no_grad()
    def evaluate(model, x, _):
        return model(x)

    def train(_, x, autoencoder):
        autoencoder.train()
        optimiser = torch.optim.Adam(autoencoder.parameters(), 1e-3)
        batch = config["autoencoder"]["batch_size"]
        for start in range(0, len(x), batch):
            loss = (autoencoder(x[start : start + batch]) - x[start : start + batch]).pow(2).sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        autoencoder.eval()
        return loss.detach()

    sizes = {
        "attack": attack_batch,
        "evaluation": config["evaluation"]["batch_size"],
        "training": config["autoencoder"]["batch_size"] * args.iterations,
    }
    runs = {"attack": attack, "evaluation": evaluate, "training": train}
    return {name: (torch.rand(sizes[name], *shape, generator=generator).to(device), runs[name]) for name in runs}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto: CUDA when present")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: one job's)")
    parser.add_argument("--iterations", type=int, default=5, help="attack iterations and training steps (default 5)")
    parser.add_argument(
        "--attack-batch", type=int, help="the attack's batch (default config.yaml's; the CPU presets attack 100)"
    )
    parser.add_argument("--shape", default="mnist", choices=["mnist", "btsc"], help="the images' shape (default mnist)")
    parser.add_argument("--compile", action="store_true", help="also torch.compile (slow to compile on a CPU)")
    return parser


def main():
    args, device, config = start_benchmark(build_parser())
    shape, classes = DATASETS[args.shape].shape, DATASETS[args.shape].classes
    print(
        f"device {device}, {args.threads} threads, {args.iterations} iterations/steps, attack batch "
        f"{args.attack_batch or config['attacks']['cw']['batch_size']}, {args.shape} shape, torch {torch.__version__}"
    )
    print(
        f"{'workload':<11} {'lever':<14} {'today s':>8} {'lever s':>8} {'today / lever':>14} {'max |diff|':>11}  note"
    )
    for name, (x, run) in workloads(config, args, shape, classes, device).items():
        for lever in (lever for lever in LEVERS if applies(lever, name, device, args)):
            reset_switches()
            model, autoencoder = build(config, shape, classes, device)
            run(model, x, autoencoder)  # warm-up, at the timed shape
            today, expected = seconds_of(lambda: run(model, x, autoencoder), device)  # noqa: B023
            model, autoencoder = build(config, shape, classes, device)  # the same weights, fresh
            levered, images = with_lever(lever, model, x, config)
            if lever == "compile":
                autoencoder = torch.compile(autoencoder)
            # warm-up at the timed shape: torch.compile compiles for it here
            first, _ = seconds_of(lambda: run(levered, images, autoencoder), device)  # noqa: B023
            seconds, got = seconds_of(lambda: run(levered, images, autoencoder), device)  # noqa: B023
            difference = float((expected.float() - got.float()).abs().max())
            note = f"first call {first:.1f} s (compiling and running)" if lever == "compile" else ""
            print(
                f"{name:<11} {lever:<14} {today:>8.2f} {seconds:>8.2f} {today / seconds:>14.2f} "
                f"{difference:>11.1e}  {note}",
                flush=True,
            )
    reset_switches()


if __name__ == "__main__":
    main()
