"""Training objectives of the autoencoders: reconstruction, KL, and the contractive penalty.

Every term is summed over pixels (or latent units) and averaged over the batch.
"""

from __future__ import annotations

import math

import torch
from torch.func import jacrev, vmap
from torch.nn import functional as F


def add_input_noise(x, stp: float, generator=None):
    """x + N(0, stp^2), clipped to [0, 1]; stp 0 returns x itself."""
    if stp == 0:
        return x
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + stp * noise).clamp(0.0, 1.0)


def training_pair(x, stp: float, denoising: bool, generator=None):
    """(input, target): the input is noisy; a denoising model reconstructs the clean image,
    a plain one the noisy image it was given."""
    noisy = add_input_noise(x, stp, generator)
    return noisy, (x if denoising else noisy)


def squared_error(target, mean):
    """AE loss: 1/2 ||x - x_hat||^2 per image, batch mean."""
    return 0.5 * (target - mean).pow(2).flatten(1).sum(1).mean()


def gaussian_nll(target, mean, logvar):
    """-log N(target; mean, exp(logvar)) per image, batch mean."""
    per_pixel = 0.5 * (math.log(2 * math.pi) + logvar + (target - mean).pow(2) / logvar.exp())
    return per_pixel.flatten(1).sum(1).mean()


def bernoulli_nll(target, logits):
    per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return per_pixel.flatten(1).sum(1).mean()


def kl_to_standard_normal(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, I)) per image, batch mean."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1).mean()


def kl_weight(step: int, steps_per_epoch: int, warmup_epochs: int) -> float:
    """Linear KL warm-up from 0 to 1 over the first `warmup_epochs` epochs."""
    if warmup_epochs == 0:
        return 1.0
    return min(1.0, step / (warmup_epochs * steps_per_epoch))


# Examples whose Jacobians a CPU computes at once. A batch of 100 at once makes 12,800
# backward passes' activations (~300 MB for the paper's AE), far past a CPU's cache; 4 at a
# time ran twice as fast on the 2-core machine (docs/performance.md). A GPU takes the batch.
EXACT_CPU_CHUNK = 4


def contractive_exact(code_fn, x, chunk_size: int | None = None):
    """Batch mean of ||d code / d x||_F^2, exactly: the full Jacobian of each example.

    code_fn maps a batch (B, C, H, W) to codes (B, D). The result is differentiable with
    respect to the parameters code_fn uses, so it can be trained on. chunk_size: examples
    whose Jacobians are computed at once (the same value, faster or slower); None: the
    whole batch on a GPU, EXACT_CPU_CHUNK on a CPU.
    """

    def one(example):
        return code_fn(example.unsqueeze(0)).squeeze(0)

    if len(x) == 0:  # vmap with chunks refuses an empty batch; the mean of nothing is nan
        return x.new_full((), float("nan"))
    if chunk_size is None and x.device.type == "cpu":
        chunk_size = EXACT_CPU_CHUNK
    jacobians = vmap(jacrev(one), chunk_size=chunk_size)(x)  # (B, D, C, H, W)
    return jacobians.pow(2).flatten(1).sum(1).mean()


def contractive_projection(code_fn, x, projections: int = 1, generator=None):
    """Unbiased estimate of the same quantity: E_v ||J^T v||^2 with v ~ N(0, I) in code space.

    One vector-Jacobian product per projection instead of one per code unit.
    """
    x = x.detach().requires_grad_(True)
    code = code_fn(x)
    total = 0.0
    for _ in range(projections):
        v = torch.randn(code.shape, generator=generator, device=code.device, dtype=code.dtype)
        (grad,) = torch.autograd.grad(code, x, grad_outputs=v, create_graph=True)
        total = total + grad.pow(2).flatten(1).sum(1).mean()
    return total / projections
