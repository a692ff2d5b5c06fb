"""Autoencoder defences against Carlini-Wagner attacks: the library behind the workflow.

The parts worth reusing outside the workflow are importable from the package itself (each is
loaded on first use, so `import aedefense` stays light): the models and the defended stack,
the attacks inside the L-infinity box, the contract check and BPDA for a defence of your own,
the evaluation-health checks and the Wilson interval. For example, PGD on a (here untrained)
classifier behind an autoencoder, and the accuracy left with its 95% interval:

    import torch
    from aedefense import Classifier, DefendedModel, attack_in_batches, build_autoencoder, wilson_interval

    classifier = Classifier((1, 28, 28), 10, blocks=2, channels=8, dense=32, dropout=0.0).eval()
    autoencoder = build_autoencoder((1, 28, 28), "ae", {"channels": 8, "latent_dim": 16}).eval()
    model = DefendedModel(classifier, autoencoder)
    x, y = torch.rand(20, 1, 28, 28), torch.randint(0, 10, (20,))
    pgd = {"method": "pgd", "eps": 0.1, "steps": 10, "step_size_factor": 2.5, "random_start": True}
    result = attack_in_batches(model, x, y, pgd, seed=0)
    assert float((result.adversarial - x).abs().max()) <= 0.1 + 1e-6
    accuracy = float((model(result.adversarial).argmax(1) == y).float().mean())
    low, high = wilson_interval(accuracy, len(y))

An attack's settings are those of attacks.<name> in config.yaml (the `method` and its
keyword-only parameters); `attack_in_batches` batches them by `batch_size` and seeds them.

A run's trained models by name, an attack with config.yaml's settings as defaults, and robust
accuracy in one call, as AutoAttack's standard evaluation prints it (aedefense.api):

    from aedefense import load_model, load_test_images, robust_accuracy

    model = load_model("runs/quick", "mnist", "ae_d1_stp0.4_a0")
    x, y = load_test_images("runs/quick", "mnist", count=100)
    table = robust_accuracy(model, x, y, eps=[0.1, 0.2, 0.3])
"""

from __future__ import annotations

import importlib

# name -> the module that defines it
PUBLIC = {
    "Classifier": "aedefense.core.models",
    "Autoencoder": "aedefense.core.models",
    "build_autoencoder": "aedefense.core.models",
    "DefendedModel": "aedefense.core.models",
    "AttackResult": "aedefense.core.box",
    "cw_box": "aedefense.core.attacks",
    "pgd_box": "aedefense.core.attacks",
    "deepfool_box": "aedefense.core.attacks",
    "suite_box": "aedefense.core.attacks",
    "apgd_box": "aedefense.core.apgd",
    "square_box": "aedefense.core.square",
    "run_attack": "aedefense.core.attacks",
    "attack_in_batches": "aedefense.core.attacks",
    "work_of": "aedefense.plan.attack_specs",
    "check_contract": "aedefense.core.defences",
    "BPDA": "aedefense.core.defences",
    "unbounded_attack_breaks": "aedefense.report.health",
    "accuracy_does_not_rise_with_eps": "aedefense.report.health",
    "longer_attack_does_not_raise_accuracy": "aedefense.report.health",
    "gradient_free_within_white_box": "aedefense.report.health",
    "transfer_within_white_box": "aedefense.report.health",
    "randomness_attacked_with_eot": "aedefense.report.health",
    "zero_gradients": "aedefense.report.health",
    "attack_converged": "aedefense.report.health",
    "wilson_interval": "aedefense.report.results",
    "load_model": "aedefense.api",
    "load_test_images": "aedefense.api",
    "attack": "aedefense.api",
    "attack_settings": "aedefense.api",
    "robust_accuracy": "aedefense.api",
}
__all__ = list(PUBLIC)


def __getattr__(name: str):
    if name not in PUBLIC:
        raise AttributeError(f"module 'aedefense' has no attribute {name!r}")
    return getattr(importlib.import_module(PUBLIC[name]), name)


def __dir__():
    return sorted(set(globals()) | set(PUBLIC))
