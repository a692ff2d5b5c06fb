"""The arithmetic a benchmark row does and the most this machine does: the real limit beside
each throughput. FLOPs are counted by torch's FlopCounterMode (matrix products and
convolutions, 2 per multiply-add; element-wise work is not counted, so the share of the peak
is an upper bound on how far a row is from the machine's arithmetic limit); the peak is a
square fp32 matrix product timed at the benchmark's thread count."""

from __future__ import annotations

import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry


class FlopCount(TorchDispatchMode):
    """The FLOPs of every operation torch's FlopCounterMode counts, by its own table
    (flop_registry), without its per-module tracking: that refuses a step which takes a
    gradient inside its loss (torch.autograd.grad with create_graph, as the contractive
    penalty's projection estimate does), and a benchmark needs the total only."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func.overloadpacket)
        if count is not None:
            self.total += count(*args, **kwargs, out_val=out)
        return out


def counted_flops(step) -> int:
    """The FLOPs torch counts while `step()` runs."""
    with FlopCount() as counter:
        step()
    return counter.total


def input_gradient_flops(model: torch.nn.Module, x: torch.Tensor) -> float:
    """FLOPs per image of one attack iteration: a forward and the gradient of a logit sum with
    respect to the input (what every gradient attack computes each step).

    >>> round(input_gradient_flops(torch.nn.Linear(10, 20), torch.rand(4, 10)))  # 2 x 10 x 20 twice
    800
    """
    delta = torch.zeros_like(x, requires_grad=True)

    def step():
        torch.autograd.grad(model(x + delta).sum(), delta)

    frozen = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        return counted_flops(step) / len(x)
    finally:
        for p, flag in zip(model.parameters(), frozen):
            p.requires_grad_(flag)


def training_step_flops(loss_of_batch, batch_size: int) -> float:
    """FLOPs per image of one training step: `loss_of_batch()` (a scalar loss on `batch_size`
    images) and its backward to the weights.

    >>> layer = torch.nn.Linear(10, 20)
    >>> round(training_step_flops(lambda: layer(torch.rand(4, 10)).sum(), 4))  # forward, weight gradient
    800
    """
    return counted_flops(lambda: loss_of_batch().backward()) / batch_size


def matmul_peak_gflops(device: torch.device, size: int = 1024, repeats: int = 20) -> float:
    """This machine's fp32 matrix-product rate (GFLOP/s) at torch's current thread count."""
    a = torch.rand(size, size, device=device)
    b = torch.rand(size, size, device=device)
    for _ in range(3):
        a @ b  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9
