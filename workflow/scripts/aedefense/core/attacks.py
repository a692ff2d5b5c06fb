"""White-box attacks inside an L-infinity box, batched over images.

Each attack is one function `(model, x, labels, *, eps, <settings>) -> AttackResult`: the
perturbation stays in [-eps, eps] and the image in [0, 1]. cw_box is the paper's
Carlini-Wagner L2 attack, pgd_box the reference strong attack (and BIM, without its random
start), deepfool_box the L2-minimal DeepFool clipped into the box; each function's docstring
says what it optimises and returns.

CW and PGD also attack a randomised defence by the expectation over transformation (EOT,
Athalye et al. 2018), their setting `eot_draws`. The model then samples its latent code on
every forward (a VAE at the deployed scale); each step averages the loss, and so its gradient,
over `eot_draws` forwards of the batch, and success is judged on the margin averaged over the
same draws. eot_draws 1 is the plain attack.

A job's
settings (config.yaml's attacks.<name> plus the job's eps, images and seeds) reach an attack
through run_attack, which looks its method up in METHODS.

Adding an attack: write its function with the settings as keyword-only parameters named
exactly as their keys under attacks.<name> in config.yaml (a default only for a setting the
config may leave out), give it a spec in aedefense/plan/attack_specs.py (the setting that counts
its steps, for work_of, and whether it draws) and its function in FUNCTIONS; then add the
method to the enum, and its settings' types to an if/then block, in the attacks block of
workflow/schemas/config.schema.yaml, so that a bad config fails before any job runs.
tests/test_attacks.py checks the schema against METHODS and names what is missing.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from aedefense.core.apgd import apgd_box
from aedefense.core.box import AttackResult, averaged_margin, expected_margin, frozen, margin, norms, project
from aedefense.core.square import square_box
from aedefense.plan.attack_specs import SPECS, MethodSpec, spec_of


def cw_loss(delta, m, gamma, kappa, distance):
    """Per-example CW objective: distance(delta) + gamma * max(margin, -kappa)."""
    squared = delta.flatten(1).pow(2).sum(1)
    dist = squared if distance == "l2_squared" else squared.add(1e-12).sqrt()
    adversarial = m if kappa is None else m.clamp(min=-kappa)
    return dist + gamma * adversarial


def cw_box(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    *,
    eps: float,
    lr: float,
    iterations: int,
    gamma: float,
    kappa: float | None,
    distance: str,
    eot_draws: int = 1,
) -> AttackResult:
    """The paper's Carlini-Wagner L2 attack inside the box.

    The variable is the perturbation delta, starting at zero; the loss per example is
    distance(delta) + gamma * max(Z_y - max_{j != y} Z_j, -kappa) on the logits Z of the
    attacked model; Adam (learning rate lr) takes `iterations` steps, and after every step
    delta is projected onto [-eps, eps] and x + delta onto [0, 1]. distance is
    ||delta||_2^2 ("l2_squared", the paper's text) or ||delta||_2 ("l2", the authors' code);
    kappa None drops the floor (the authors' code).

    eot_draws: the draws of the expectation over transformation each step averages over (see
    the module docstring); 1 is the plain attack.

    Returns an AttackResult over the iterates 0..iterations (the last is not stepped):
    success_step is the first iterate whose (averaged) margin is negative, -1 if none;
    success is success_step >= 0; adversarial is, per example, the successful iterate with
    the smallest L2, else the final iterate clamped to [0, 1] (standard CW bookkeeping); l2
    and linf are the norms of adversarial - x.

    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)).eval()
    >>> x = torch.rand(4, 1, 28, 28)
    >>> labels = model(x).argmax(1)  # every image classified correctly before the attack
    >>> result = cw_box(model, x, labels, eps=0.01, lr=0.01, iterations=10, gamma=1.0, kappa=0.0, distance="l2")
    >>> fooled = model(result.adversarial).argmax(1) != labels
    >>> bool(result.linf.max() <= 0.01 + 1e-6), torch.equal(result.success, fooled)
    (True, True)
    """
    if distance not in ("l2_squared", "l2"):
        raise ValueError(f"distance {distance!r}; allowed: l2_squared, l2")
    n = len(x)
    delta = torch.zeros_like(x, requires_grad=True)
    optimiser = torch.optim.Adam([delta], lr=lr)
    best = x.clone()
    best_l2 = torch.full((n,), float("inf"), device=x.device)
    success_step = torch.full((n,), -1, dtype=torch.long, device=x.device)
    with frozen(model):
        for step in range(iterations + 1):  # iterates 0..iterations; the last is not stepped
            m = expected_margin(model, x + delta, labels, eot_draws)
            with torch.no_grad():  # bookkeeping on the device: no host syncs in the loop
                l2 = delta.flatten(1).norm(dim=1)
                improved = (m < 0) & (l2 < best_l2)
                best_l2 = torch.where(improved, l2, best_l2)
                best = torch.where(improved[:, None, None, None], x + delta, best)
                success_step = torch.where((m < 0) & (success_step < 0), step, success_step)
            if step == iterations:
                break
            loss = cw_loss(delta, m, gamma, kappa, distance).sum()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()  # the model is frozen: only delta gets a gradient
            optimiser.step()
            with torch.no_grad():
                project(x, delta, eps)
    success = success_step >= 0
    final = (x + delta.detach()).clamp(0.0, 1.0)
    adversarial = torch.where(success[:, None, None, None], best, final)
    l2, linf = norms(adversarial - x)
    return AttackResult(adversarial, success, success_step, l2, linf)


def pgd_box(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    *,
    eps: float,
    steps: int,
    step_size_factor: float,
    random_start: bool,
    eot_draws: int = 1,
    generator: torch.Generator | None = None,
) -> AttackResult:
    """The reference strong attack (Madry et al.): projected gradient ascent on the
    cross-entropy of the attacked model, with signed steps of step_size_factor * eps / steps
    from a uniform random start in the box (drawn from `generator`); after every step the
    perturbation is projected onto [-eps, eps] and x + delta onto [0, 1].

    BIM (Kurakin et al.) is pgd_box without the random start (config: method pgd,
    random_start false); the tests check it against torchattacks.BIM.

    eot_draws: the draws of the expectation over transformation each step averages over (see
    the module docstring); 1 is the plain attack.

    Returns an AttackResult of the final iterate, which is what PGD returns: adversarial is
    x + delta after `steps` steps, clamped to [0, 1]; success whether its (averaged) margin
    is negative; success_step the first of the iterates 0..steps whose margin was negative,
    -1 if none; l2 and linf the norms of adversarial - x.

    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)).eval()
    >>> x = torch.rand(4, 1, 28, 28)
    >>> labels = model(x).argmax(1)  # every image classified correctly before the attack
    >>> def pgd(seed):
    ...     seeded = torch.Generator().manual_seed(seed)
    ...     return pgd_box(model, x, labels, eps=0.01, steps=5, step_size_factor=2.5,
    ...                    random_start=True, generator=seeded)
    >>> result = pgd(0)
    >>> bool(result.linf.max() <= 0.01 + 1e-6), torch.equal(result.adversarial, pgd(0).adversarial)  # seeded
    (True, True)
    """
    step_size = step_size_factor * eps / steps
    if random_start:
        noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        delta = (2 * noise - 1) * eps
    else:
        delta = torch.zeros_like(x)
    project(x, delta, eps)
    success_step = torch.full((len(x),), -1, dtype=torch.long, device=x.device)
    with frozen(model):
        for step in range(steps + 1):
            delta.requires_grad_(True)
            inputs = x + delta if eot_draws == 1 else (x + delta).repeat(eot_draws, 1, 1, 1)
            logits = model(inputs)
            with torch.no_grad():
                wrong = averaged_margin(logits, labels, eot_draws) < 0
                success_step = torch.where(wrong & (success_step < 0), step, success_step)
            if step == steps:
                break
            loss = F.cross_entropy(logits, labels.repeat(eot_draws), reduction="sum") / eot_draws
            (grad,) = torch.autograd.grad(loss, delta)
            with torch.no_grad():
                delta = delta.detach() + step_size * grad.sign()
                project(x, delta, eps)
    adversarial = (x + delta.detach()).clamp(0.0, 1.0)
    success = wrong  # of the final iterate, which is what PGD returns
    l2, linf = norms(adversarial - x)
    return AttackResult(adversarial, success, success_step, l2, linf)


def deepfool_box(
    model: nn.Module, x: torch.Tensor, labels: torch.Tensor, *, eps: float, steps: int, overshoot: float
) -> AttackResult:
    """DeepFool (Moosavi-Dezfooli et al. 2016) as the authors' reference code computes it,
    batched over images: it looks for the smallest L2 perturbation that crosses the nearest
    class boundary of the linearised model. Each step adds the linearised L2 step r to the
    nearest class boundary (lengthened by 1e-4) to a running sum r_tot, the iterate is
    x + (1 + overshoot) r_tot clamped to [0, 1], and an image stops once misclassified; at
    most `steps` steps, one backward per class for the whole batch. torchattacks.DeepFool
    applies the overshoot to each step instead, so its steps shrink onto the boundary and
    images end on it (margins of 1e-7) rather than across it; the first step is the same in
    both, which the tests check.

    The result is L2-minimal, not confined to the box, so it is clipped into the box
    afterwards: the perturbation onto [-eps, eps], the image onto [0, 1].

    Returns an AttackResult of the clipped image: adversarial; success whether the model
    misclassifies it (its margin is negative); success_step the first step at which the
    unclipped iterate was misclassified, -1 if none or if the box undid it; l2 and linf the
    norms of adversarial - x.

    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)).eval()
    >>> x = torch.rand(4, 1, 28, 28)
    >>> labels = model(x).argmax(1)  # every image classified correctly before the attack
    >>> result = deepfool_box(model, x, labels, eps=0.01, steps=3, overshoot=0.02)
    >>> bool(result.linf.max() <= 0.01 + 1e-6), bool((result.success_step[~result.success] == -1).all())
    (True, True)
    """
    n = len(x)
    rows = torch.arange(n, device=x.device)
    total = torch.zeros_like(x)  # the sum of the linearised steps, r_tot
    adversarial = x.clone()
    active = torch.ones(n, dtype=torch.bool, device=x.device)
    success_step = torch.full((n,), -1, dtype=torch.long, device=x.device)
    with frozen(model):
        for step in range(steps + 1):
            current = adversarial.clone().requires_grad_(True)
            logits = model(current)
            with torch.no_grad():
                wrong = logits.argmax(1) != labels
                success_step = torch.where(wrong & (success_step < 0), step, success_step)
                active &= ~wrong
            if step == steps or not bool(active.any()):
                break
            classes = logits.shape[1]
            # (N, K, D): images are independent in eval mode, so the gradient of the batch sum
            # of class k's logit is each image's own
            gradients = torch.stack(
                [
                    torch.autograd.grad(logits[:, k].sum(), current, retain_graph=k < classes - 1)[0]
                    for k in range(classes)
                ],
                dim=1,
            ).flatten(2)
            with torch.no_grad():
                f_prime = logits - logits[rows, labels][:, None]
                w_prime = gradients - gradients[rows, labels][:, None]
                gradient_norms = w_prime.norm(dim=2).clamp_min(1e-12)
                distance = f_prime.abs() / gradient_norms
                distance[rows, labels] = float("inf")
                nearest = distance.argmin(1)
                # the reference code's 1e-4 beyond the boundary: an image exactly on it (a tie
                # that argmax resolves to the true class) would otherwise never move again
                length = distance[rows, nearest] + 1e-4
                step_r = (length[:, None] * w_prime[rows, nearest] / gradient_norms[rows, nearest][:, None]).view_as(x)
                total = torch.where(active[:, None, None, None], total + step_r, total)
                adversarial = (x + (1 + overshoot) * total).clamp(0.0, 1.0)
        delta = adversarial - x
        project(x, delta, eps)
        adversarial = (x + delta).clamp(0.0, 1.0)
        with torch.no_grad():
            success = margin(model(adversarial), labels) < 0
    l2, linf = norms(adversarial - x)
    # the first step at which the unclipped iterate was misclassified; -1 if the box undid it
    return AttackResult(adversarial, success, torch.where(success, success_step, -1), l2, linf)


def suite_box(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    *,
    eps: float,
    protocol: list[dict],
    generator: torch.Generator | None = None,
) -> AttackResult:
    """The per-example worst case over a protocol of attacks (AutoAttack's way): each attack
    of `protocol` (a list of attack settings, as under attacks.<name> in config.yaml, with
    their name) runs in order on the images that none before it fooled, at the same eps and
    with the same random `generator`.

    Returns an AttackResult: adversarial, per image, the point of the attack that fooled it,
    else the first attack's point; success whether any attack fooled it; success_step the step
    of that attack at which it was fooled, -1 if none; part the index in `protocol` of that
    attack, -1 if none; l2 and linf the norms of adversarial - x.

    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)).eval()
    >>> x = torch.rand(4, 1, 28, 28)
    >>> labels = model(x).argmax(1)  # every image classified correctly before the attack
    >>> pgd = {"method": "pgd", "steps": 5, "step_size_factor": 2.5, "random_start": True}
    >>> square = {"method": "square", "queries": 10, "p_init": 0.3, "restarts": 1}
    >>> seeded = torch.Generator().manual_seed(0)
    >>> result = suite_box(model, x, labels, eps=0.01, protocol=[pgd, square], generator=seeded)
    >>> torch.equal(result.part >= 0, result.success), set(result.part.tolist()) <= {-1, 0, 1}
    (True, True)
    """
    first = run_in_batches(model, x, labels, dict(protocol[0], eps=eps), generator)
    adversarial, success, success_step = first.adversarial.clone(), first.success.clone(), first.success_step.clone()
    part = torch.where(success, 0, -1)
    for index, settings in enumerate(protocol[1:], start=1):
        todo = (~success).nonzero().squeeze(1)
        if len(todo) == 0:
            break
        found = run_in_batches(model, x[todo], labels[todo], dict(settings, eps=eps), generator)
        fooled = todo[found.success]
        adversarial[fooled] = found.adversarial[found.success]
        success_step[fooled] = found.success_step[found.success]
        success[fooled] = True
        part[fooled] = index
    l2, linf = norms(adversarial - x)
    return AttackResult(adversarial, success, success_step, l2, linf, part)


# keyword-only parameters an attack gets from the job rather than from attacks.<name> in config.yaml
NOT_SETTINGS = ("eps", "generator")


@dataclass(frozen=True)
class AttackMethod:
    """A config `method`: the attack function and what attack_specs knows of it."""

    attack: Callable[..., AttackResult]
    spec: MethodSpec

    @property
    def parameters(self) -> dict[str, inspect.Parameter]:
        """The function's keyword-only parameters: eps, its settings, and a generator where it draws."""
        parameters = inspect.signature(self.attack).parameters.items()
        return {name: p for name, p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}

    @property
    def settings(self) -> tuple[str, ...]:
        """The keyword-only parameters that come from attacks.<name> in config.yaml."""
        return tuple(name for name in self.parameters if name not in NOT_SETTINGS)

    @property
    def required(self) -> tuple[str, ...]:
        """The settings without a default: a config must give them."""
        return tuple(name for name in self.settings if self.parameters[name].default is inspect.Parameter.empty)

    @property
    def config_settings(self) -> tuple[str, ...]:
        """The settings as attacks.<name> in config.yaml writes them."""
        return self.spec.written_as or self.settings

    @property
    def config_required(self) -> tuple[str, ...]:
        return self.spec.written_as or self.required


FUNCTIONS = {"cw": cw_box, "pgd": pgd_box, "deepfool": deepfool_box, "apgd": apgd_box, "square": square_box}
FUNCTIONS["suite"] = suite_box
METHODS = {method: AttackMethod(FUNCTIONS[method], spec) for method, spec in SPECS.items()}


def method_of(settings: dict) -> AttackMethod:
    """The registry entry of settings['method']."""
    spec_of(settings)  # names the allowed methods when it is none of them
    return METHODS[settings["method"]]


def run_attack(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    settings: dict,
    generator: torch.Generator | None = None,
) -> AttackResult:
    """settings['method']'s attack on one batch, at settings['eps'], given the settings that are
    its keyword-only parameters (the job's other keys, such as name, batch_size, images and the
    seeds, are not passed) and `generator` where it takes one. A setting with a default, such as
    eot_draws (the draws each step averages over), may be left out.

    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)).eval()
    >>> x = torch.rand(4, 1, 28, 28)
    >>> labels = model(x).argmax(1)  # every image classified correctly before the attack
    >>> deepfool = {"name": "deepfool", "method": "deepfool", "eps": 0.01, "steps": 3, "overshoot": 0.02, "images": 4}
    >>> run_attack(model, x, labels, deepfool).adversarial.shape
    torch.Size([4, 1, 28, 28])
    >>> run_attack(model, x, labels, {"method": "deepfool", "eps": 0.01, "steps": 3})
    Traceback (most recent call last):
    ...
    ValueError: attack method 'deepfool' needs the setting(s) overshoot: set them under attacks.<name> in config.yaml
    """
    entry = method_of(settings)
    missing = [name for name in entry.required if name not in settings]
    if missing:
        where = f"attacks.{settings['name']}" if "name" in settings else "attacks.<name>"
        raise ValueError(
            f"attack method {settings['method']!r} needs the setting(s) {', '.join(missing)}: "
            f"set them under {where} in config.yaml"
        )
    kwargs = {name: settings[name] for name in entry.settings if name in settings}
    if "eps" in entry.parameters:
        if "eps" not in settings:
            raise ValueError(f"attack method {settings['method']!r}: the job's settings lack eps, its L-inf budget")
        kwargs["eps"] = settings["eps"]
    if "generator" in entry.parameters:
        kwargs["generator"] = generator
    return entry.attack(model, x, labels, **kwargs)


def attack_in_batches(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, settings: dict, seed: int, progress=None
) -> AttackResult:
    """The whole attacked set at settings['eps'], `settings['batch_size']` images at a time
    (a suite: all at once, each of its attacks in batches of its own), seeded. `settings` are
    those of attacks.<name> in config.yaml with the eps; the package docstring has an example.
    progress: called with (images done, images) after each batch of a plain attack.

    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)).eval()
    >>> x, y = torch.rand(6, 1, 2, 2), torch.zeros(6, dtype=torch.long)
    >>> cw = {"method": "cw", "eps": 0.05, "lr": 0.1, "iterations": 5, "gamma": 1.0, "kappa": 0.0,
    ...       "distance": "l2_squared", "batch_size": 4}
    >>> result = attack_in_batches(model, x, y, cw, seed=0)
    >>> bool((result.adversarial - x).abs().max() <= 0.05 + 1e-6), result.success.shape
    (True, torch.Size([6]))
    """
    generator = torch.Generator(device=images.device).manual_seed(seed)
    return run_in_batches(model, images, labels, settings, generator, progress)


def run_in_batches(model, images, labels, settings: dict, generator, progress=None) -> AttackResult:
    size = settings.get("batch_size", len(images))
    parts = []
    for start in range(0, len(images), size):
        stop = start + size
        parts.append(run_attack(model, images[start:stop], labels[start:stop], settings, generator))
        if progress is not None:
            progress(min(stop, len(images)), len(images))
    fields = {
        name: None if getattr(parts[0], name) is None else torch.cat([getattr(p, name) for p in parts])
        for name in AttackResult.__dataclass_fields__
    }
    return AttackResult(**fields)
