"""Auto-PGD (Croce and Hein, ICML 2020) in the L-infinity box, batched, with EOT.

APGD is PGD without a step size to tune: it starts at 2 eps, adds momentum (0.75), and at
checkpoints (after 22% of the steps, then ever closer, down to 6%) halves the step size of an
image whose loss rose in fewer than `rho` of the steps since the last checkpoint, or did not
improve at all, restarting it from its best point. The losses: cross-entropy (APGD-CE), the
difference of logits ratio (APGD-DLR, invariant to the logits' scale), and its targeted form
(APGD-T), run once per target class: the classes the clean image's logits rank 2nd, 3rd, ...

This follows the reference implementation (fra31/auto-attack, as torchattacks 3.5.1 carries
it): the same start (uniform in the box, stretched to L-infinity eps), step, momentum,
checkpoints and restarts, only the images still classified correctly attacked by each restart
or target. tests/test_suite.py checks that it agrees with torchattacks' APGD and APGDT. It
differs in three places, for a defence that samples:
- eot_draws > 1 runs the draws as one stacked batch (the reference loops over them), and an
  image counts as fooled when its margin averaged over the draws is negative (the reference
  looks at the last draw only);
- an image never fooled is returned at its highest-loss iterate (the reference returns the
  clean image): the same accuracy on a deterministic defence, a harder point for a sampling one;
- success_step records the iteration at which each image was first fooled, which the
  evaluation-health checks read (convergence).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from aedefense.core.box import AttackResult, averaged_margin, frozen, norms

LOSSES = ("ce", "dlr", "dlr_targeted")


def dlr_loss(logits, labels):
    """-(Z_y - max_{j != y} Z_j) / (Z_pi1 - Z_pi3): the difference of logits ratio, per image."""
    ordered = logits.sort(dim=1).values
    true = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.scatter(1, labels[:, None], float("-inf")).amax(1)
    return -(true - others) / (ordered[:, -1] - ordered[:, -3] + 1e-12)


def dlr_targeted_loss(logits, labels, targets):
    """-(Z_y - Z_t) / (Z_pi1 - (Z_pi3 + Z_pi4) / 2): the targeted DLR loss, per image."""
    ordered = logits.sort(dim=1).values
    true = logits.gather(1, labels[:, None]).squeeze(1)
    target = logits.gather(1, targets[:, None]).squeeze(1)
    return -(true - target) / (ordered[:, -1] - 0.5 * ordered[:, -3] - 0.5 * ordered[:, -4] + 1e-12)


def _loss(name, logits, labels, targets):
    if name == "ce":
        return F.cross_entropy(logits, labels, reduction="none")
    if name == "dlr":
        return dlr_loss(logits, labels)
    return dlr_targeted_loss(logits, labels, targets)


def _in_box(x, point, eps):
    return torch.min(torch.max(point, x - eps), x + eps).clamp(0.0, 1.0)


def _single_run(model, x, labels, *, eps, steps, loss, rho, eot_draws, generator, targets=None):
    """One APGD run from one random start: (best adversarial or best-loss point, fooled,
    success_step)."""
    n = len(x)
    first_check, min_check, shrink = max(int(0.22 * steps), 1), max(int(0.06 * steps), 1), max(int(0.03 * steps), 1)

    def loss_and_gradient(point):
        point = point.detach().requires_grad_(True)
        batch = point if eot_draws == 1 else point.repeat(eot_draws, 1, 1, 1)
        logits = model(batch)
        copies = labels.repeat(eot_draws)
        copied_targets = None if targets is None else targets.repeat(eot_draws)
        per_image = _loss(loss, logits, copies, copied_targets).view(eot_draws, n).mean(0)
        (gradient,) = torch.autograd.grad(per_image.sum(), point)
        fooled = averaged_margin(logits.detach(), labels, eot_draws) < 0
        return per_image.detach(), gradient.detach(), fooled

    start = 2 * torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) - 1
    point = (x + eps * start / start.flatten(1).abs().amax(1).view(-1, 1, 1, 1)).clamp(0.0, 1.0)
    best_point, best_adversarial = point.clone(), point.clone()
    current_loss, gradient, fooled = loss_and_gradient(point)
    best_adversarial[fooled] = point[fooled]
    success_step = torch.where(fooled, 0, -1)
    best_loss, best_gradient = current_loss.clone(), gradient.clone()
    loss_history = torch.zeros(steps, n, device=x.device)
    step_size = torch.full((n, 1, 1, 1), 2.0 * eps, device=x.device, dtype=x.dtype)
    previous = point.clone()
    check_every, since_check = first_check, 0
    best_at_last_check = best_loss.clone()
    reduced_at_last_check = torch.ones(n, dtype=torch.bool, device=x.device)
    for i in range(steps):
        with torch.no_grad():
            momentum = point - previous
            previous = point.clone()
            a = 0.75 if i > 0 else 1.0
            stepped = _in_box(x, point + step_size * gradient.sign(), eps)
            point = _in_box(x, point + (stepped - point) * a + momentum * (1 - a), eps)
        current_loss, gradient, now_fooled = loss_and_gradient(point)
        with torch.no_grad():
            success_step = torch.where(now_fooled & ~fooled, i + 1, success_step)
            fooled |= now_fooled
            best_adversarial[now_fooled] = point[now_fooled]
            loss_history[i] = current_loss
            improved = current_loss > best_loss
            best_point[improved] = point[improved]
            best_gradient[improved] = gradient[improved]
            best_loss[improved] = current_loss[improved]
            since_check += 1
            if since_check == check_every:
                # rows i, i-1, ..., i-k+1 against the row before each (row -1 wraps to the last,
                # still zero, as in the reference)
                rows = torch.arange(i, i - check_every, -1, device=x.device)
                rises = (loss_history[rows] > loss_history[rows - 1]).sum(0)
                oscillating = rises <= check_every * rho
                stalled = ~reduced_at_last_check & (best_at_last_check >= best_loss)
                reduce = oscillating | stalled
                reduced_at_last_check = reduce
                best_at_last_check = best_loss.clone()
                step_size[reduce] /= 2.0
                point[reduce] = best_point[reduce]
                gradient[reduce] = best_gradient[reduce]
                since_check = 0
                check_every = max(check_every - shrink, min_check)
    adversarial = torch.where(fooled[:, None, None, None], best_adversarial, best_point)
    return adversarial, fooled, success_step


def apgd_box(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    *,
    eps: float,
    steps: int,
    loss: str,
    restarts: int,
    rho: float,
    targets: int = 0,
    eot_draws: int = 1,
    generator: torch.Generator | None = None,
) -> AttackResult:
    """Auto-PGD inside the box: `steps` iterations per run on the cross-entropy (loss "ce"), the
    DLR loss ("dlr"), or the targeted DLR loss ("dlr_targeted", once per target class: the
    `targets` classes ranked highest after the true one by the clean logits, capped at
    classes - 1). `restarts` runs per loss or target, each from a random start drawn from
    `generator`; each run attacks only the images no earlier run fooled. eot_draws: the draws
    of the expectation over transformation each gradient averages over (1: plain APGD).

    Returns an AttackResult: adversarial, per image, the iterate that fooled the model (the
    last such iterate of the run that fooled it), else the highest-loss iterate of the last
    run; success whether any run fooled it (margin, averaged over the draws, below 0);
    success_step the iteration of its run at which it was first fooled (0: the start), -1 if
    none; l2 and linf the norms of adversarial - x.

    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)).eval()
    >>> x = torch.rand(4, 1, 28, 28)
    >>> labels = model(x).argmax(1)  # every image classified correctly before the attack
    >>> seeded = torch.Generator().manual_seed(0)
    >>> result = apgd_box(model, x, labels, eps=0.01, steps=5, loss="dlr", restarts=1, rho=0.75, generator=seeded)
    >>> bool(result.linf.max() <= 0.01 + 1e-6), torch.equal(result.success_step >= 0, result.success)
    (True, True)
    """
    if loss not in LOSSES:
        raise ValueError(f"APGD loss {loss!r}; allowed: {', '.join(LOSSES)}")
    with frozen(model), torch.no_grad():
        clean_logits = model(x if eot_draws == 1 else x.repeat(eot_draws, 1, 1, 1))
        fooled = averaged_margin(clean_logits, labels, eot_draws) < 0
        if eot_draws > 1:
            clean_logits = clean_logits.view(eot_draws, len(x), -1).mean(0)
    classes = clean_logits.shape[1]
    if loss == "dlr_targeted":
        if classes < 4:
            raise ValueError(f"the targeted DLR loss needs 4 classes or more; the model has {classes}")
        runs = [("target", rank) for rank in range(2, min(targets, classes - 1) + 2)]
    else:
        runs = [("plain", None)]
    adversarial = x.clone()
    success_step = torch.where(fooled, 0, -1)
    with frozen(model):
        for kind, rank in runs:
            for _ in range(restarts):
                todo = (~fooled).nonzero().squeeze(1)
                if len(todo) == 0:
                    break
                run_targets = clean_logits[todo].sort(dim=1).indices[:, -rank] if kind == "target" else None
                found, now_fooled, steps_taken = _single_run(
                    model,
                    x[todo],
                    labels[todo],
                    eps=eps,
                    steps=steps,
                    loss=loss,
                    rho=rho,
                    eot_draws=eot_draws,
                    generator=generator,
                    targets=run_targets,
                )
                adversarial[todo] = found
                success_step[todo] = torch.where(now_fooled, steps_taken, success_step[todo])
                fooled[todo] = now_fooled
    l2, linf = norms(adversarial - x)
    return AttackResult(adversarial, fooled, success_step, l2, linf)
