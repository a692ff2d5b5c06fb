"""What every attack here shares: the result record, the box (the L-infinity ball of eps
intersected with [0, 1]), the margin, and a model frozen for the attack."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch


@dataclass
class AttackResult:
    """What an attack returns, per image of its batch: the adversarial image, whether it fools
    the attacked model and from which step, and the norms of its perturbation.

    >>> import torch
    >>> x = torch.rand(3, 1, 28, 28)
    >>> adversarial = (x + 0.05 * torch.randn(x.shape).sign()).clamp(0.0, 1.0)
    >>> l2, linf = norms(adversarial - x)
    >>> result = AttackResult(adversarial, torch.tensor([True, False, True]), torch.tensor([4, -1, 0]), l2, linf)
    >>> bool(result.linf.max() <= 0.05 + 1e-6), result.success_step[~result.success].tolist()
    (True, [-1])
    >>> result.part is None  # only a suite says which of its attacks fooled each image
    True
    """

    adversarial: torch.Tensor  # (N, C, H, W) in [0, 1]
    success: torch.Tensor  # bool (N,): the attacked model misclassifies `adversarial`
    success_step: torch.Tensor  # int64 (N,): first successful iterate, -1 if none
    l2: torch.Tensor  # float (N,): ||adversarial - x||_2
    linf: torch.Tensor  # float (N,): ||adversarial - x||_inf
    # a suite's only: int64 (N,), which attack of its protocol fooled the image, -1 if none
    part: torch.Tensor | None = None


@contextmanager
def frozen(model):
    """Evaluation mode and no weight gradients for the attack; restores both afterwards, module
    by module (a wrapper in training mode may hold a classifier in evaluation mode)."""
    flags = [p.requires_grad for p in model.parameters()]
    modes = [m.training for m in model.modules()]
    model.eval().requires_grad_(False)
    try:
        yield model
    finally:
        for parameter, flag in zip(model.parameters(), flags):
            parameter.requires_grad_(flag)
        for module, training in zip(model.modules(), modes):
            module.training = training


def margin(logits, labels):
    """Z_y - max_{j != y} Z_j: negative exactly when the example is misclassified
    (ties aside)."""
    true = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.scatter(1, labels[:, None], float("-inf"))
    return true - others.amax(1)


def project(x, delta, eps):
    """delta into [-eps, eps], then x + delta into [0, 1], in place."""
    delta.clamp_(-eps, eps)
    delta.copy_((x + delta).clamp_(0.0, 1.0) - x)


def averaged_margin(logits, labels, draws: int):
    """The margin of the logits of `draws` stacked copies of a batch, averaged over the copies."""
    if draws == 1:
        return margin(logits, labels)
    return margin(logits, labels.repeat(draws)).view(draws, -1).mean(0)


def expected_margin(model, inputs, labels, draws: int = 1):
    """The margin averaged over `draws` forwards of the batch, run as one batch of
    draws x N (the model is in eval mode, so the copies do not interact)."""
    batch = inputs if draws == 1 else inputs.repeat(draws, 1, 1, 1)
    return averaged_margin(model(batch), labels, draws)


def norms(delta):
    flat = delta.flatten(1)
    return flat.norm(dim=1), flat.abs().amax(dim=1)
