"""The Square attack (Andriushchenko et al., ECCV 2020), L-infinity, in the box, batched.

Square needs no gradient: it is the check that a defence's robustness is not an artefact of
masked or broken gradients. It starts from vertical stripes of +-eps, then, once per query,
flips the perturbation inside one random square of every image still classified correctly to
a random +-eps per channel, and keeps the change where the margin Z_y - max_{j != y} Z_j
falls. The square's side shrinks on the reference schedule (p_init halved after 10, 50, 200,
500, 1,000, 2,000, 4,000, 6,000 and 8,000 of 10,000 queries, rescaled to the budget: the
reference code's rescale_schedule, which AutoAttack's standard evaluation turns off, so at
5,000 queries these squares shrink twice as fast as AutoAttack's).

This follows the reference implementation (fra31/auto-attack, as torchattacks 3.5.1 carries
it), whose random draws it repeats in the same order: one square position and one set of
signs per query, shared by the batch. tests/test_suite.py checks that it agrees with
torchattacks' Square. It differs where an image is never fooled: it is returned at its
lowest-margin point rather than as the clean image, and success_step records the query at
which each image was first fooled.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from aedefense.core.box import AttackResult, frozen, margin, norms

# (queries out of 10,000 after which the square's area is p_init divided by the factor)
P_SCHEDULE = ((8000, 512), (6000, 256), (4000, 128), (2000, 64), (1000, 32), (500, 16), (200, 8), (50, 4), (10, 2))


def square_fraction(p_init: float, query: int, queries: int) -> float:
    """p: the share of the image's pixels the square covers at `query` of `queries`."""
    rescaled = int(query / queries * 10000)
    for after, factor in P_SCHEDULE:
        if rescaled > after:
            return p_init / factor
    return p_init


def _signs(shape, generator, device):
    return torch.sign(2 * torch.rand(shape, generator=generator, device=device) - 1)


def _single_run(model, x, labels, *, eps, queries, p_init, generator):
    n, (c, h, w) = len(x), x.shape[1:]
    best = (x + eps * _signs((n, c, 1, w), generator, x.device)).clamp(0.0, 1.0)
    best_margin = margin(model(best), labels)
    success_step = torch.where(best_margin <= 0, 0, -1)
    for query in range(queries):
        todo = (best_margin > 0).nonzero().flatten()
        if len(todo) == 0:
            break
        side = max(int(round(math.sqrt(square_fraction(p_init, query, queries) * h * w))), 1)
        top = int(torch.rand(1, generator=generator, device=x.device) * (h - side))
        left = int(torch.rand(1, generator=generator, device=x.device) * (w - side))
        change = torch.zeros((c, h, w), device=x.device, dtype=x.dtype)
        change[:, top : top + side, left : left + side] = 2.0 * eps * _signs((c, 1, 1), generator, x.device)
        clean = x[todo]
        candidate = torch.min(torch.max(best[todo] + change, clean - eps), clean + eps).clamp(0.0, 1.0)
        candidate_margin = margin(model(candidate), labels[todo])
        better = candidate_margin < best_margin[todo]  # the fooled ones have a margin <= 0 < the old one
        best[todo[better]] = candidate[better]
        best_margin[todo[better]] = candidate_margin[better]
        fooled_now = todo[better & (candidate_margin <= 0)]
        success_step[fooled_now] = query + 1
    return best, best_margin <= 0, success_step


@torch.no_grad()
def square_box(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    *,
    eps: float,
    queries: int,
    p_init: float,
    restarts: int,
    generator: torch.Generator | None = None,
) -> AttackResult:
    """Square, L-infinity, inside the box: at most `queries` forward passes per image and run
    after the start, `restarts` runs (each on the images no earlier run fooled), random draws
    from `generator`.

    Returns an AttackResult: adversarial, per image, the point that fooled the model, else the
    lowest-margin point of the last run; success whether the margin fell to 0 or below (the
    reference's rule); success_step the query of its run at which it was fooled (0: the
    start), -1 if none; l2 and linf the norms of adversarial - x.

    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)).eval()
    >>> x = torch.rand(4, 1, 28, 28)
    >>> labels = model(x).argmax(1)  # every image classified correctly before the attack
    >>> seeded = torch.Generator().manual_seed(0)
    >>> result = square_box(model, x, labels, eps=0.01, queries=10, p_init=0.3, restarts=1, generator=seeded)
    >>> fooled = margin(model(result.adversarial), labels) <= 0  # the reference's rule
    >>> bool(result.linf.max() <= 0.01 + 1e-6), torch.equal(result.success, fooled)
    (True, True)
    """
    with frozen(model):
        fooled = margin(model(x), labels) <= 0
        adversarial = x.clone()
        success_step = torch.where(fooled, 0, -1)
        for _ in range(restarts):
            todo = (~fooled).nonzero().squeeze(1)
            if len(todo) == 0:
                break
            found, now_fooled, steps = _single_run(
                model, x[todo], labels[todo], eps=eps, queries=queries, p_init=p_init, generator=generator
            )
            adversarial[todo] = found
            success_step[todo] = torch.where(now_fooled, steps, success_step[todo])
            fooled[todo] = now_fooled
    l2, linf = norms(adversarial - x)
    return AttackResult(adversarial, fooled, success_step, l2, linf)
