"""What the workflow knows of each attack method without running it: the setting that counts
its steps, the settings that multiply them, what a step costs, and whether it draws random
numbers. Torch-free: the Snakefile (params), the config check and the projection read it at
parse time; aedefense.core.attacks binds each method to its function (and a test checks that the
function takes a generator exactly where `random` says so)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class MethodSpec:
    steps_setting: str
    # settings that multiply the steps (restarts, target classes)
    runs_settings: tuple[str, ...] = ()
    # where config.yaml writes settings that the job's params turn into the function's own
    # (the suite's lists of attack names, standard and rand, become its protocol)
    written_as: tuple[str, ...] = ()
    # one step's cost in forward+backward passes: Square's queries are forwards only, about
    # 0.4 of a forward+backward on the paper's stacked models (measured on CPU, batch 200)
    step_cost: float = 1.0
    # whether the attack itself draws (a random start, Square's proposals); with EOT draws
    # every attack samples the defence as well
    random: bool = True
    # whether it reads no gradient (the health check that a defence does not mask gradients
    # compares what such an attack finds after the white-box ones)
    gradient_free: bool = False


SPECS = {
    "cw": MethodSpec("iterations", random=False),
    "pgd": MethodSpec("steps"),
    "deepfool": MethodSpec("steps", random=False),
    "apgd": MethodSpec("steps", runs_settings=("restarts", "targets")),
    "square": MethodSpec("queries", runs_settings=("restarts",), step_cost=0.4, gradient_free=True),
    "suite": MethodSpec("", written_as=("standard", "rand")),
}


def spec_of(settings: dict) -> MethodSpec:
    """The spec of settings['method']."""
    method = settings.get("method")
    if method not in SPECS:
        raise ValueError(f"unknown attack method {method!r}; allowed: {', '.join(sorted(SPECS))}")
    return SPECS[method]


def uses_seed(settings: dict, defence_samples: bool) -> bool:
    """Whether an attack's result depends on its seed: it draws, it averages EOT draws, or the
    defence it attacks samples on every forward (seeded by the job)."""
    return spec_of(settings).random or settings.get("eot_draws", 1) > 1 or defence_samples


def work_of(settings: dict, images: int) -> int:
    """Image-iterations of one attack job at most: forward + backward passes over single
    images, every run on every image (runs stop early on the images fooled before them).
    DeepFool's are one forward and one backward per class, counted as one; Square's queries
    are forwards only, counted at their step_cost. A suite's settings hold its `protocol`.

    >>> pgd = {"method": "pgd", "steps": 10, "eot_draws": 4}
    >>> work_of(pgd, images=100)  # 100 images x (10 steps + the start) x 4 draws
    4400
    >>> square = {"method": "square", "queries": 99, "restarts": 2}
    >>> work_of(square, images=10), work_of({"method": "suite", "protocol": [pgd, square]}, images=10)
    (800, 1240)
    """
    spec = spec_of(settings)
    if settings["method"] == "suite":
        return sum(work_of(component, images) for component in settings["protocol"])
    runs = math.prod(settings.get(name, 1) for name in spec.runs_settings)
    steps = images * (settings[spec.steps_setting] + 1) * runs * settings.get("eot_draws", 1)
    return round(steps * spec.step_cost)
