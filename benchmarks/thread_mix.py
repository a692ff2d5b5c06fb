"""How a run's jobs best share a CPU's cores: one job on all of them against several jobs of
fewer threads each (config.yaml `threads` with Snakemake's --cores: on 2 cores, a rule of 8
threads runs one job on 2 threads; the CPU presets run two jobs of one thread).

    python benchmarks/thread_mix.py [--cores N] [--iterations 10] [--attack-batch 100] [--shape mnist]
                                    [--workloads attack evaluation training]

For each workload (CW in the box, an evaluation forward, plain autoencoder training: as a job
runs it, benchmarks/levers.py's `kept` form) and each mix of jobs x threads that fills the
cores, that many processes start together (a barrier after each one's warm-up) and each does
the same work; the row gives the mix's throughput (all processes' work over the slowest's
seconds) and its ratio to one job on every core. Meaningful on an idle machine only: beside
other work, threads that wait for each other lose far more than their share.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def mixes(cores: int) -> list[tuple[int, int]]:
    """(jobs, threads per job) that fill `cores`, one job on all of them first.

    >>> mixes(2), mixes(6)
    ([(1, 2), (2, 1)], [(1, 6), (2, 3), (3, 2), (6, 1)])
    """
    return [(cores // threads, threads) for threads in range(cores, 0, -1) if cores % threads == 0]


def job(workload: str, threads: int, args: dict, barrier, results) -> None:
    """One job's process: build the workload, warm it up, wait for the others, run it once."""
    sys.path[:0] = [str(ROOT / "workflow" / "scripts"), str(HERE)]
    import levers
    import torch
    import yaml

    from aedefense.plan.datasets import DATASETS

    torch.set_num_threads(threads)
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    shape, classes = DATASETS[args["shape"]].shape, DATASETS[args["shape"]].classes
    device = torch.device("cpu")
    options = argparse.Namespace(iterations=args["iterations"], attack_batch=args["attack_batch"])
    x, run = levers.workloads(config, options, shape, classes, device)[workload]
    model, autoencoder = levers.build(config, shape, classes, device)
    if workload != "training":
        model, x = levers.with_lever("kept", model, x, config)
    run(model, x, autoencoder)  # warm-up
    barrier.wait()
    start = time.perf_counter()
    run(model, x, autoencoder)
    results.put(time.perf_counter() - start)


def work_of(workload: str, args: dict, config: dict) -> tuple[int, str]:
    """(units of work one job does, the unit)."""
    if workload == "attack":
        batch = args["attack_batch"] or config["attacks"]["cw"]["batch_size"]
        return batch * (args["iterations"] + 1), "image-iterations"
    if workload == "evaluation":
        return config["evaluation"]["batch_size"], "image-forwards"
    return config["autoencoder"]["batch_size"] * args["iterations"], "image-steps"


WORKLOADS = ("attack", "evaluation", "training")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)), help="default: this machine's")
    parser.add_argument("--iterations", type=int, default=10, help="attack iterations and training steps")
    parser.add_argument("--attack-batch", type=int, default=100, help="the attack's batch (the CPU presets': 100)")
    parser.add_argument("--shape", default="mnist", choices=["mnist", "btsc"])
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    return parser


def main() -> None:
    args = vars(build_parser().parse_args())
    sys.path[:0] = [str(ROOT / "workflow" / "scripts"), str(HERE)]
    import yaml
    from benchmark_setup import when_and_load

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    print(when_and_load())
    print(f"{args['cores']} cores, {args['shape']} shape, attack batch {args['attack_batch']}, CPU")
    print(f"{'workload':<11} {'jobs x threads':>14} {'per second':>12}  {'against 1 job':>13}  unit")
    context = multiprocessing.get_context("spawn")
    for workload in args["workloads"]:
        amount, unit = work_of(workload, args, config)
        first = None
        for jobs, threads in mixes(args["cores"]):
            barrier, results = context.Barrier(jobs), context.Queue()
            processes = [
                context.Process(target=job, args=(workload, threads, args, barrier, results)) for _ in range(jobs)
            ]
            for process in processes:
                process.start()
            seconds = [results.get(timeout=3600) for _ in processes]
            for process in processes:
                process.join()
            rate = jobs * amount / max(seconds)
            first = first or rate
            mix = f"{jobs} x {threads}"
            print(f"{workload:<11} {mix:>14} {rate:>12,.0f}  {rate / first:>13.2f}  {unit}", flush=True)


if __name__ == "__main__":
    main()
