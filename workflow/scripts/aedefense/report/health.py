"""Evidence that an evaluation did not fail: the checks a reviewer asks of a defence's numbers
(Carlini et al. 2019, "On Evaluating Adversarial Robustness"; Tramer et al. 2020; Croce et
al. 2022), run by the workflow on every cell and latent scale. Each check yields one row:
what was measured, the threshold, and a verdict: pass, warn (look at it), fail (the cell's
numbers under attack are not to be trusted as they stand) or "not applicable".

- unbounded_attack_breaks: with eps = 1 the box is [0, 1] itself, and any image can be made
  any other: accuracy must fall to unbounded_max_accuracy or below.
- accuracy_does_not_rise_with_eps: along the attack's curve accuracy does not rise by more
  than the sampling noise of two accuracies (sanity.noise).
- longer_attack_does_not_raise_accuracy: the figures' sanity check (sanity.py) for this cell:
  the figure attack with more iterations leaves no more accuracy, beyond the noise.
- gradient_free_within_white_box: the images that only the gradient-free attack (Square)
  fooled, after the white-box attacks of the suite failed on them, are no more than the
  Wilson half-width of the white-box accuracy: more means the gradients mislead the
  white-box attacks (gradient masking).
- transfer_within_white_box: the undefended classifier's adversarial sets (a transfer
  attack, no knowledge of the defence) leave no less accuracy than the white-box attack,
  beyond the noise of two accuracies: a transfer attack that does better means the white-box
  attack failed on this defence.
- randomness_attacked_with_eot: predictions that change between two seeds mean the defence
  samples; such a defence must have been attacked with EOT (eot_draws > 1).
- zero_gradients: the share of attacked images whose input gradient of the margin is
  exactly zero (a non-differentiable step such as quantisation); above the threshold the
  gradient attacks are blind.
- attack_converged: the share of images first fooled in the last 10% of an attack's
  iterations (or queries); above the threshold (and two images or more) the success rate was
  still rising when the attack stopped: warn, incomplete optimisation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from aedefense.core.box import margin
from aedefense.plan.attack_specs import SPECS, spec_of
from aedefense.plan.names import FAIL, NOT_APPLICABLE, PASS, WARN
from aedefense.report.results import wilson_interval
from aedefense.report.sanity import rise_beyond_noise

LATE = 0.9  # an image fooled after this share of an attack's steps is fooled late


def check(name: str, measured, threshold, verdict: str, detail: str) -> dict:
    return {"check": name, "measured": measured, "threshold": threshold, "verdict": verdict, "detail": detail}


def judged(name: str, measured, threshold, passed: bool, detail: str, why_not: str, otherwise: str = FAIL) -> dict:
    """A check's row: pass, or `otherwise` with the reason appended to the detail."""
    if passed:
        return check(name, measured, threshold, PASS, detail)
    return check(name, measured, threshold, otherwise, f"{detail}: {why_not}")


def unbounded_attack_breaks(accuracy: float, eps: float, threshold: float) -> dict:
    """The attack with the whole box (eps 1) must leave at most `threshold` accuracy; each
    check returns a row: check, measured, threshold, verdict (pass / warn / fail), detail.

    >>> unbounded_attack_breaks(0.048, 1.0, 0.01)["verdict"]
    'fail'
    >>> unbounded_attack_breaks(0.0, 1.0, 0.01)["verdict"]
    'pass'
    """
    return judged(
        "unbounded_attack_breaks",
        accuracy,
        threshold,
        accuracy <= threshold,
        f"accuracy {accuracy:.4f} under the attack at eps {eps} (the box alone)",
        "an attack that cannot break the defence without a budget is not working on it",
    )


def accuracy_does_not_rise_with_eps(accuracies: dict[float, float], n: int) -> dict:
    """accuracies: eps -> accuracy under one attack, on n images.

    >>> accuracy_does_not_rise_with_eps({0.0: 0.99, 0.1: 0.6, 0.2: 0.3}, n=1000)["verdict"]
    'pass'
    >>> accuracy_does_not_rise_with_eps({0.0: 0.99, 0.1: 0.3, 0.2: 0.6}, n=1000)["detail"]
    'accuracy rises from 0.3000 at eps 0.1 to 0.6000 at eps 0.2, ... beyond the noise'
    """
    points = sorted(accuracies.items())
    worst_rise, where = 0.0, None
    for (eps_a, a), (eps_b, b) in zip(points, points[1:]):
        if rise_beyond_noise(a, b, n) > worst_rise:
            worst_rise, where = rise_beyond_noise(a, b, n), (eps_a, a, eps_b, b)
    if where is None:
        return check("accuracy_does_not_rise_with_eps", 0.0, 0.0, PASS, f"{len(points)} eps, no rise beyond noise")
    eps_a, a, eps_b, b = where
    return check(
        "accuracy_does_not_rise_with_eps",
        worst_rise,
        0.0,
        FAIL,
        f"accuracy rises from {a:.4f} at eps {eps_a} to {b:.4f} at eps {eps_b}, {worst_rise:.4f} beyond the noise",
    )


def transfer_within_white_box(white_box: dict[float, float], transfer: dict[float, float], n: int) -> dict:
    """white_box, transfer: eps -> accuracy on the same n images.

    >>> transfer_within_white_box({0.1: 0.2, 0.3: 0.0}, {0.1: 0.7, 0.3: 0.4}, n=1000)["verdict"]
    'pass'
    >>> transfer_within_white_box({0.1: 0.6}, {0.1: 0.2}, n=1000)["verdict"]  # the transfer did better
    'fail'
    """
    worst = None
    for eps, attacked in white_box.items():
        if eps not in transfer:
            continue
        beyond = rise_beyond_noise(transfer[eps], attacked, n)
        if worst is None or beyond > worst[0]:
            worst = (beyond, eps, attacked, transfer[eps])
    beyond, eps, attacked, transferred = worst
    return judged(
        "transfer_within_white_box",
        max(beyond, 0.0),
        0.0,
        beyond <= 0,
        f"at eps {eps}: {transferred:.4f} under the transferred sets, {attacked:.4f} under the white-box attack",
        "the white-box attack failed on this defence where an attack that ignores it did better",
    )


def longer_attack_does_not_raise_accuracy(accuracies: dict | None, n: int) -> dict:
    """accuracies: {'figure_attack': accuracy, 'longer_attack': accuracy} at the middle eps;
    None where the config runs no longer attack.

    >>> longer_attack_does_not_raise_accuracy({"figure_attack": 0.30, "longer_attack": 0.45}, n=1000)["verdict"]
    'fail'
    >>> longer_attack_does_not_raise_accuracy(None, n=1000)["verdict"]
    'not applicable'
    """
    name = "longer_attack_does_not_raise_accuracy"
    if accuracies is None:
        return check(name, None, None, NOT_APPLICABLE, "no longer attack configured (sanity.longer_attack)")
    main, longer = accuracies["figure_attack"], accuracies["longer_attack"]
    beyond = rise_beyond_noise(main, longer, n)
    return judged(
        name,
        max(beyond, 0.0),
        0.0,
        beyond <= 0,
        f"{longer:.4f} under the longer attack, {main:.4f} under the figure attack",
        "the figure attack stopped too early on this cell",
    )


def _steps_of(settings: dict) -> int:
    return settings[spec_of(settings).steps_setting]


def gradient_free_within_white_box(records: dict[float, dict]) -> dict:
    """records: eps -> a suite's adversarial set (with `part`, and its protocol in settings).

    >>> import torch
    >>> protocol = [{"method": "apgd"}, {"method": "square"}]
    >>> part = torch.tensor([0] * 60 + [1] * 2 + [-1] * 38)  # Square fooled 2 of 100 images
    >>> gradient_free_within_white_box({0.1: {"settings": {"protocol": protocol}, "part": part}})["verdict"]
    'pass'
    >>> part = torch.tensor([0] * 30 + [1] * 32 + [-1] * 38)  # 32 of 100
    >>> row = gradient_free_within_white_box({0.1: {"settings": {"protocol": protocol}, "part": part}})
    >>> row["verdict"], row["measured"]  # gradient masking
    ('fail', 0.32)
    """
    worst = None
    for eps, record in records.items():
        protocol = record["settings"].get("protocol", [])
        free = [i for i, attack in enumerate(protocol) if SPECS[attack["method"]].gradient_free]
        if not free or record.get("part") is None:
            continue
        part, n = record["part"], len(record["part"])
        only_free = int(torch.isin(part, torch.tensor(free)).sum())
        white_box_robust = int(((part == -1) | (part >= min(free))).sum())
        low, high = wilson_interval(white_box_robust / n, n)
        share, half_width = only_free / n, (high - low) / 2
        if worst is None or share - half_width > worst[0] - worst[1]:
            names = " or ".join(dict.fromkeys(protocol[i]["method"].capitalize() for i in free))
            worst = (share, half_width, eps, only_free, n, names)
    if worst is None:
        return check(
            "gradient_free_within_white_box", None, None, NOT_APPLICABLE, "no gradient-free attack in this protocol"
        )
    share, half_width, eps, count, n, names = worst
    return judged(
        "gradient_free_within_white_box",
        share,
        half_width,
        share <= half_width,
        f"at eps {eps}: {count} of {n} images fooled by {names} only, after the white-box attacks failed",
        "the white-box attacks' gradients mislead them (gradient masking)",
    )


def randomness_attacked_with_eot(forward_at_seed: Callable[[int], torch.Tensor], attacked_with_eot: bool) -> dict:
    """forward_at_seed(seed): the defence's predictions on the attacked images, its random
    draws seeded with `seed`.

    >>> import torch
    >>> sampling = lambda seed: torch.tensor([3, 1, 4, seed])  # the last prediction follows the seed
    >>> randomness_attacked_with_eot(sampling, attacked_with_eot=False)["verdict"]
    'fail'
    >>> randomness_attacked_with_eot(sampling, attacked_with_eot=True)["measured"]
    0.25
    """
    first, second = forward_at_seed(0), forward_at_seed(1)
    changed = float((first != second).float().mean())
    if changed == 0:
        return check("randomness_attacked_with_eot", 0.0, 0.0, PASS, "deterministic: no prediction changes")
    detail = f"{changed:.2%} of predictions change between two seeds: the defence samples"
    if attacked_with_eot:
        return check("randomness_attacked_with_eot", changed, 0.0, PASS, detail + ", and was attacked with EOT")
    return check(
        "randomness_attacked_with_eot",
        changed,
        0.0,
        FAIL,
        detail + ", but was attacked without EOT: its accuracy under attack overstates its robustness",
    )


def zero_gradients(
    model: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    labels: torch.Tensor,
    threshold: float,
    batch_size: int = 1000,
) -> dict:
    """The share of images whose input gradient of the margin is exactly zero everywhere.

    >>> import torch
    >>> linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    >>> x, labels = torch.rand(4, 1, 28, 28), torch.randint(0, 10, (4,))
    >>> zero_gradients(linear, x, labels, threshold=0.0)["verdict"]
    'pass'
    >>> quantised = lambda x: linear(torch.round(x))  # a step function: its gradient is zero
    >>> zero_gradients(quantised, x, labels, threshold=0.0, batch_size=2)["measured"]
    1.0
    """
    zero = 0
    for start in range(0, len(x), batch_size):
        batch = x[start : start + batch_size].clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(margin(model(batch), labels[start : start + batch_size]).sum(), batch)
        zero += int((gradient.flatten(1).abs().amax(1) == 0).sum())
    share = zero / len(x)
    return judged(
        "zero_gradients",
        share,
        threshold,
        share <= threshold,
        f"{zero} of {len(x)} images have an input gradient of exactly zero",
        "gradient attacks are blind here; attack through an approximation (BPDA) or without gradients",
    )


def attack_converged(records: dict[float, dict], threshold: float) -> dict:
    """records: eps -> an adversarial set; per attack of a suite's protocol (or the one
    attack), the share of all images first fooled in its last 10% of steps.

    >>> import torch
    >>> step = torch.tensor([1, 3, 10, 10, -1])  # two of five images fooled at the last of 10 steps
    >>> record = {"settings": {"method": "pgd", "steps": 10}, "success": step >= 0, "success_step": step}
    >>> attack_converged({0.1: record}, threshold=0.1)["verdict"]
    'warn'
    >>> attack_converged({0.1: dict(record, success_step=torch.tensor([1, 3, 4, 5, -1]))}, threshold=0.1)["verdict"]
    'pass'
    """
    worst = (0.0, None)
    for eps, record in records.items():
        settings, n = record["settings"], len(record["success"])
        protocol = settings.get("protocol") or [settings]
        for index, attack in enumerate(protocol):
            steps = _steps_of(attack)
            mine = record["success"] if record.get("part") is None else record["part"] == index
            late = int((mine & (record["success_step"] > LATE * steps)).sum())
            if late / n > worst[0] or worst[1] is None:
                worst = (late / n, (eps, attack.get("name", attack["method"]), steps, late, n))
    share, (eps, name, steps, late, n) = worst
    return judged(
        "attack_converged",
        share,
        threshold,
        share <= threshold or late < 2,  # one image is no trend
        f"at eps {eps}: {late} of {n} images first fooled by {name} in the last 10% of its {steps} steps",
        "incomplete optimisation, more steps would fool more",
        otherwise=WARN,
    )
