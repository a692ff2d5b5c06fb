"""Attack throughput (image-iterations/s) on the paper-shaped stacked models: ours, the peers a
user would pick instead, and the bare forward+backward throughput of the same model (the
practical limit of any gradient attack).

    python benchmarks/attack_throughput.py [--batch 200] [--iterations 10] [--threads 2] [--device auto]

Models: AE + classifier and VAE (z = mu) + classifier with config.yaml's architectures, for
MNIST-size (1x28x28) and BTSC-size (3x32x32) inputs, untrained (speed does not depend on the
weights). Same images, iterations and batch for every row. Peers (pip install -e ".[bench]"):
torchattacks CW, foolbox L2CarliniWagnerAttack (binary_search_steps=1, abort_early=False),
ART CarliniL2Method (binary_search_steps=1); a peer that is not installed is skipped. What the
peers compute differs from ours (PEER_NOTES, printed under the table).
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
from flops import counted_flops, input_gradient_flops, matmul_peak_gflops  # noqa: E402

from aedefense.core.attacks import cw_box, deepfool_box, frozen, pgd_box  # noqa: E402
from aedefense.core.models import (  # noqa: E402
    Classifier,
    DefendedModel,
    build_autoencoder,  # noqa: E402
)
from aedefense.plan.datasets import DATASETS  # noqa: E402

SHAPES = {DATASETS[name].title: (DATASETS[name].shape, DATASETS[name].classes) for name in ("mnist", "btsc")}


def timed(fn, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


class CountingModel(torch.nn.Module):
    """The model, counting its forward passes: a peer that stops early or runs extra
    forwards shows it in the `fwd/it` column."""

    def __init__(self, model):
        super().__init__()
        self.model, self.calls = model, 0

    def forward(self, x):
        self.calls += 1
        return self.model(x)


def bare_forward_backward(model, x, labels, iterations):
    """What every gradient attack must do per iteration: one forward, one input gradient."""
    delta = torch.zeros_like(x, requires_grad=True)
    with frozen(model):
        for _ in range(iterations):
            logits = model(x + delta)
            (grad,) = torch.autograd.grad(logits.gather(1, labels[:, None]).sum(), delta)


PEER_NOTES = {
    "torchattacks CW": "tanh space, no eps box; stops when its loss stops falling (checked "
    "every steps/10 iterations, cannot be turned off), so it runs fewer iterations",
    "foolbox CW": "tanh space, no eps box; one forward+backward per iteration, plus a "
    "forward per iteration to track the best adversarial",
    "ART CW": "tanh space, no eps box; numpy on the host between steps, and a line search of "
    "up to 5 halvings / 5 doublings of the step: several forwards per iteration",
}


def peer_attacks(model, x, labels, iterations, lr, classes, slow_images):
    """{name: (callable, images)} for the peers that are installed, each set up for the same
    work as ours: one constant (gamma = c = 1), no binary search, `iterations` steps, no early
    stop. ART, 10-70x slower than the others, attacks only the first `slow_images` images: its
    rate is per image-iteration like every other row's."""
    batch = len(x)
    peers = {}
    try:
        import torchattacks

        attack = torchattacks.CW(model, c=1.0, kappa=0.0, steps=iterations, lr=lr)
        peers["torchattacks CW"] = (lambda: attack(x, labels), batch)
    except ImportError:
        pass
    try:
        import foolbox

        fmodel = foolbox.PyTorchModel(model, bounds=(0, 1), device=x.device)
        fattack = foolbox.attacks.L2CarliniWagnerAttack(
            binary_search_steps=1,
            steps=iterations,
            stepsize=lr,
            confidence=0,
            initial_const=1.0,
            abort_early=False,
        )
        peers["foolbox CW"] = (lambda: fattack(fmodel, x, labels, epsilons=None), batch)
    except ImportError:
        pass
    try:
        from art.attacks.evasion import CarliniL2Method
        from art.estimators.classification import PyTorchClassifier

        estimator = PyTorchClassifier(
            model,
            torch.nn.CrossEntropyLoss(),
            tuple(x.shape[1:]),
            classes,
            clip_values=(0.0, 1.0),
            device_type="gpu" if x.is_cuda else "cpu",
        )
        small = min(batch, slow_images)
        aattack = CarliniL2Method(
            estimator,
            confidence=0.0,
            learning_rate=lr,
            binary_search_steps=1,
            max_iter=iterations,
            initial_const=1.0,
            batch_size=small,
            verbose=False,
        )
        x_np, y_np = x[:small].cpu().numpy(), labels[:small].cpu().numpy()
        peers["ART CW"] = (lambda: aattack.generate(x_np, y_np), small)
    except ImportError:
        pass
    return peers


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=200, help="images per attack batch, for every row (default 200)")
    parser.add_argument("--iterations", type=int, default=10, help="attack iterations per measurement (default 10)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument(
        "--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto: CUDA when present (default)"
    )
    parser.add_argument(
        "--slow-peer-images",
        type=int,
        default=20,
        help="images for the peers known to be slow (ART CW, torchattacks DeepFool)",
    )
    return parser


def main():
    args, device, config = start_benchmark(build_parser())
    cw = {k: config["attacks"]["cw"][k] for k in ("lr", "gamma", "kappa", "distance")}
    pgd = {k: config["attacks"]["pgd"][k] for k in ("step_size_factor", "random_start")}
    print(
        f"device {device}, {args.threads} threads, batch {args.batch}, {args.iterations} iterations, "
        f"torch {torch.__version__}"
    )
    peak = matmul_peak_gflops(device)
    print(f"fp32 matrix product (1024 x 1024) on this machine: {peak:.0f} GFLOP/s, the peak each row is set against")
    print(
        f"{'model':<22} {'attack':<22} {'it run':>9} {'fwd/it':>7} {'img-it/s':>10} {'/ limit':>8} "
        f"{'GFLOP/s':>8} {'of peak':>8} {'ours CW /':>10}"
    )
    for data, (shape, classes) in SHAPES.items():
        generator = torch.Generator().manual_seed(0)
        x = torch.rand(args.batch, *shape, generator=generator).to(device)
        labels = torch.randint(0, classes, (args.batch,), generator=generator).to(device)
        c = config["classifier"]
        classifier = Classifier(shape, classes, c["blocks"], c["channels"], c["dense"], c["dropout"])
        for family in ("ae", "vae"):
            autoencoder = build_autoencoder(shape, family, config["autoencoder"])
            # in eval mode as a whole, as every attack here gets it (the wrapper too)
            model = CountingModel(DefendedModel(classifier, autoencoder, "mean")).to(device).eval()
            name = f"{family.upper()}+classifier {data}"
            flops = input_gradient_flops(model, x[:8])  # per image-iteration: forward and input gradient
            bare_forward_backward(model, x, labels, 2)  # warm-up
            cw_box(model, x, labels, eps=0.1, iterations=2, **cw)
            rows = {
                "bare forward+backward": (lambda: bare_forward_backward(model, x, labels, args.iterations), args.batch),
                "ours: CW in the box": (
                    lambda: cw_box(model, x, labels, eps=0.1, iterations=args.iterations, **cw),
                    args.batch,
                ),
                "ours: PGD": (lambda: pgd_box(model, x, labels, eps=0.1, steps=args.iterations, **pgd), args.batch),
                **peer_attacks(model, x, labels, args.iterations, cw["lr"], classes, args.slow_peer_images),
            }
            rates = {}
            for attack, (run, images) in rows.items():
                model.calls = 0
                seconds = timed(run, device)
                # iterations run: one forward each; an early stop runs fewer, extra forwards
                # (best-iterate checks, line searches) are the attack's own cost
                iterations_run = min(model.calls, args.iterations)
                rates[attack] = images * iterations_run / seconds
                limit, ours = rates["bare forward+backward"], rates.get("ours: CW in the box")
                versus = f"{ours / rates[attack]:>10.2f}" if attack in PEER_NOTES else ""
                gflops = rates[attack] * flops / 1e9
                print(
                    f"{name:<22} {attack:<22} {iterations_run:>4}/{args.iterations:<4} "
                    f"{model.calls / iterations_run:>7.2f} {rates[attack]:>10.0f} "
                    f"{rates[attack] / limit:>8.2f} {gflops:>8.1f} {gflops / peak:>8.2f} {versus}",
                    flush=True,
                )
    print(
        "\nit run: iterations run of those asked for (fewer: the attack stopped early). fwd/it: "
        "forward passes per iteration run (above 1: extra forwards, the attack's own cost)."
        "\nimg-it/s: images x iterations run, per second. / limit: share of the bare "
        "forward+backward rate. GFLOP/s: img-it/s times the FLOPs of one forward and input "
        "gradient (torch's count of products and convolutions); of peak: its share of the matrix "
        "product's rate. ours CW /: how many times ours is the peer's rate."
    )
    for peer, note in PEER_NOTES.items():
        print(f"{peer}: {note}")
    deepfool_table(args, device, config)
    suite_table(args, device, config)
    pieces_table(args, device, config)
    evaluation_table(device, config, peak)


def untrained_parts(config, shape, classes, family, batch, device):
    """Random images, and an untrained classifier and autoencoder of config.yaml's architectures."""
    x = torch.rand(batch, *shape, generator=torch.Generator().manual_seed(0)).to(device)
    c = config["classifier"]
    classifier = Classifier(shape, classes, c["blocks"], c["channels"], c["dense"], c["dropout"])
    return x, classifier, build_autoencoder(shape, family, config["autoencoder"])


def suite_table(args, device, config):
    """The suite's attacks, ours against the reference implementation torchattacks carries
    (the same algorithm and random draws): seconds for the batch at eps 0.1, `iterations`
    steps (APGD) and 10 x `iterations` queries (Square), labels the model's own predictions
    (so every image starts correct). Plain and with EOT: a VAE sampling at scale 1, 4 draws
    (ours: one batch of draws, in pieces of cpu_forward_batch on a CPU as a job runs it;
    torchattacks: one draw after another)."""
    try:
        import torchattacks
    except ImportError:
        return
    from aedefense.core.apgd import apgd_box
    from aedefense.core.models import in_pieces_on_cpu
    from aedefense.core.square import square_box

    steps, queries, draws = args.iterations, 10 * args.iterations, 4
    print(f"\nThe suite's attacks, batch {args.batch}, eps 0.1, APGD {steps} steps, Square {queries} queries")
    print(f"{'model':<22} {'attack':<18} {'ours s':>8} {'torchattacks s':>15} {'theirs / ours':>14}")
    for data, (shape, classes) in SHAPES.items():
        x, classifier, vae = untrained_parts(config, shape, classes, "vae", args.batch, device)
        plain = DefendedModel(classifier, vae, "mean").to(device).eval()
        sampling = DefendedModel(classifier, vae, "sample", 1.0).to(device).eval()
        with torch.no_grad():
            labels = plain(x).argmax(1)
        # ours as a job runs it: on a CPU, forwards in pieces of cpu_forward_batch images
        plain_job, sampling_job = (in_pieces_on_cpu(m, device, config["cpu_forward_batch"]) for m in (plain, sampling))
        apgd = dict(eps=0.1, steps=steps, loss="ce", restarts=1, rho=0.75)
        rows = {
            "APGD-CE": (
                lambda: apgd_box(plain_job, x, labels, **apgd),
                lambda: torchattacks.APGD(plain, eps=0.1, steps=steps, loss="ce")(x, labels),
            ),
            f"APGD-CE, EOT {draws}": (
                lambda: apgd_box(sampling_job, x, labels, **apgd, eot_draws=draws),
                lambda: torchattacks.APGD(sampling, eps=0.1, steps=steps, loss="ce", eot_iter=draws)(x, labels),
            ),
            "Square": (
                lambda: square_box(plain_job, x, labels, eps=0.1, queries=queries, p_init=0.8, restarts=1),
                lambda: torchattacks.Square(plain, eps=0.1, n_queries=queries, p_init=0.8)(x, labels),
            ),
        }
        for attack, (ours, theirs) in rows.items():
            mine, reference = timed(ours, device), timed(theirs, device)
            name = f"VAE+classifier {data}"
            print(f"{name:<22} {attack:<18} {mine:>8.1f} {reference:>15.1f} {reference / mine:>14.2f}", flush=True)


def deepfool_table(args, device, config):
    """DeepFool, ours (batched) against torchattacks (one image at a time): seconds for the
    batch, each attack given `iterations` steps and labels the model's own predictions (so
    every image starts correct); both stop an image once it is misclassified."""
    try:
        import torchattacks
    except ImportError:
        return
    print(
        f"\nDeepFool, batch {args.batch}, at most {args.iterations} steps, overshoot 0.02 (torchattacks: "
        f"{min(args.batch, args.slow_peer_images)} images timed, scaled to the batch)"
    )
    print(
        f"{'model':<22} {'ours s':>8} {'torchattacks s':>15} {'theirs / ours':>14} {'fooled ours':>12} "
        f"{'fooled theirs':>14}"
    )
    for data, (shape, classes) in SHAPES.items():
        x, classifier, autoencoder = untrained_parts(config, shape, classes, "ae", args.batch, device)
        model = DefendedModel(classifier, autoencoder, "mean").to(device).eval()
        with torch.no_grad():
            labels = model(x).argmax(1)
        results = {}
        ours = dict(eps=1.0, steps=args.iterations, overshoot=0.02)
        seconds = timed(lambda: results.update(ours=deepfool_box(model, x, labels, **ours).adversarial), device)
        attack = torchattacks.DeepFool(model, steps=args.iterations, overshoot=0.02)
        small = min(args.batch, args.slow_peer_images)  # one image at a time: time a few, scale up
        theirs = timed(lambda: results.update(theirs=attack(x[:small], labels[:small])), device) * args.batch / small
        with torch.no_grad():
            fooled = {k: float((model(v).argmax(1) != labels[: len(v)]).float().mean()) for k, v in results.items()}
        print(
            f"{'AE+classifier ' + data:<22} {seconds:>8.1f} {theirs:>15.1f} {theirs / seconds:>14.1f} "
            f"{fooled['ours']:>12.0%} {fooled['theirs']:>14.0%}",
            flush=True,
        )


def pieces_table(args, device, config):
    """Today's path (the whole batch through the model at once) against the forwards in pieces
    of config.yaml's cpu_forward_batch images (aedefense.core.models.InPieces, what a job on a
    CPU runs): CW at config.yaml's batch (1,000) and APGD-CE with 4 EOT draws stacked on a VAE
    sampling at scale 1 (the --batch images x 4 at once). Seconds of each, the ratio, and the
    largest difference between the two adversarial sets (the same numbers: 0 or rounding)."""
    from aedefense.core.apgd import apgd_box
    from aedefense.core.models import InPieces

    size = config["cpu_forward_batch"]
    if device.type != "cpu" or not size:
        return
    cw = {k: config["attacks"]["cw"][k] for k in ("lr", "gamma", "kappa", "distance")}
    batch = config["attacks"]["cw"]["batch_size"]
    print(f"\nForwards in pieces of {size} images (cpu_forward_batch) against the whole batch, {args.iterations} steps")
    print(f"{'model':<22} {'attack':<24} {'whole s':>8} {'pieces s':>9} {'whole / pieces':>15} {'max |diff|':>11}")
    for data, (shape, classes) in SHAPES.items():
        x, classifier, vae = untrained_parts(config, shape, classes, "vae", batch, device)
        labels = torch.randint(0, classes, (batch,), generator=torch.Generator().manual_seed(1)).to(device)
        plain = DefendedModel(classifier, vae, "mean").to(device).eval()

        def sampling():
            return DefendedModel(classifier, vae, "sample", 1.0, torch.Generator().manual_seed(2)).to(device).eval()

        apgd = dict(eps=0.1, steps=args.iterations, loss="ce", restarts=1, rho=0.75, eot_draws=4)
        small = slice(0, args.batch)
        rows = {
            f"CW, batch {batch}": lambda model: cw_box(model, x, labels, eps=0.1, iterations=args.iterations, **cw),
            f"APGD-CE EOT 4, batch {args.batch}": lambda model: apgd_box(
                model, x[small], labels[small], **apgd, generator=torch.Generator().manual_seed(3)
            ),
        }
        for attack, run in rows.items():
            base = plain if attack.startswith("CW") else None
            sets, seconds = [], []
            for pieces in (False, True):
                model = base if base is not None else sampling()
                model = InPieces(model, size) if pieces else model
                seconds.append(timed(lambda: sets.append(run(model).adversarial), device))  # noqa: B023
            difference = float((sets[0] - sets[1]).abs().max())
            print(
                f"{'VAE+classifier ' + data:<22} {attack:<24} {seconds[0]:>8.1f} {seconds[1]:>9.1f} "
                f"{seconds[0] / seconds[1]:>15.2f} {difference:>11.1e}",
                flush=True,
            )


def evaluation_table(device, config, peak):
    """The evaluation's forward (config.yaml's evaluation batch, no gradient) of the VAE +
    classifier sampling at scale 1: images per second, GFLOP/s and share of the peak, the
    whole batch at once and, on a CPU, in pieces of cpu_forward_batch (what a job runs)."""
    from aedefense.core.models import InPieces

    batch, size = config["evaluation"]["batch_size"], config["cpu_forward_batch"]
    ways = {"whole batch": None, **({f"pieces of {size}": size} if device.type == "cpu" and size else {})}
    print(f"\nThe evaluation's forward, batch {batch}, VAE sampling at scale 1")
    print(f"{'model':<22} {'forwards':<16} {'img/s':>8} {'GFLOP/s':>8} {'of peak':>8}")
    for data, (shape, classes) in SHAPES.items():
        x, classifier, vae = untrained_parts(config, shape, classes, "vae", batch, device)
        model = DefendedModel(classifier, vae, "sample", 1.0).to(device).eval()
        with torch.no_grad():
            flops = counted_flops(lambda: model(x[:8])) / 8  # noqa: B023
            for way, pieces in ways.items():
                run = InPieces(model, pieces) if pieces else model
                run(x)  # warm-up
                rate = batch * 3 / timed(lambda: [run(x) for _ in range(3)], device)  # noqa: B023
                gflops = rate * flops / 1e9
                name = f"VAE+classifier {data}"
                print(f"{name:<22} {way:<16} {rate:>8.0f} {gflops:>8.1f} {gflops / peak:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
