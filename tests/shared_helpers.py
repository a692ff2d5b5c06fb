"""Models, attack settings and files that several test modules share (their fixtures are in
conftest.py)."""

import fixtures
import torch

from aedefense.core.attacks import AttackResult
from aedefense.data.prepared import to_unit
from aedefense.jobs.adversarial import save_adversarial_set, set_identity
from aedefense.jobs.training import train_classifier

CW = {
    "method": "cw",
    "lr": 0.1,
    "iterations": 30,
    "gamma": 1.0,
    "kappa": 0.0,
    "distance": "l2_squared",
    "batch_size": 64,
}
PGD = {"method": "pgd", "steps": 10, "step_size_factor": 2.5, "random_start": True, "batch_size": 64}


def train_small_classifier():
    """A small classifier that learned the fixture classes, and 64 test images it sees."""
    data = fixtures.tiny_data(n_train=400, n_test=64, seed=3)
    settings = {
        "blocks": 4,
        "channels": 16,
        "dense": 64,
        "dropout": 0.0,
        "batch_size": 50,
        "lr": 3e-3,
        "weight_decay": 0.0,
        "epochs": 8,
        "seed": 0,
    }
    model, metrics = train_classifier(data, settings, torch.device("cpu"), log=lambda _: None)
    assert metrics["test_accuracy"] > 0.9
    x, y = to_unit(data["test"]["images"]), data["test"]["labels"]
    return model.eval(), x, y


def accuracy_on(model, x, y):
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


class NoisyLogits(torch.nn.Module):
    """A randomised model: the wrapped model's logits plus fresh N(0, 1) noise per forward."""

    def __init__(self, model, seed=0):
        super().__init__()
        self.model, self.generator = model, torch.Generator().manual_seed(seed)

    def forward(self, x):
        logits = self.model(x)
        return logits + torch.randn(logits.shape, generator=self.generator)


def small_adversarial_set(path):
    x = torch.rand(4, 1, 28, 28)
    result = AttackResult(
        x, torch.ones(4, dtype=torch.bool), torch.zeros(4, dtype=torch.long), torch.ones(4), torch.ones(4)
    )
    identity = set_identity("mnist", "none", "cw", 0.1, None, {"test_sha256": "0" * 64})
    save_adversarial_set(
        path,
        identity=identity,
        settings={"eps": 0.1},
        indices=torch.arange(4),
        labels=torch.zeros(4, dtype=torch.long),
        result=result,
    )
