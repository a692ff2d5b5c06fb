"""The study scripts measure what they say (studies/)."""

import importlib.util
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def load_study(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "studies" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class GreyReconstruction(torch.nn.Module):
    """A stand-in autoencoder that lifts every image to a grey background: b + (1 - b) x."""

    def __init__(self, level):
        super().__init__()
        self.level = level

    def forward(self, x, scale=0.0, generator=None):
        return self.level + (1 - self.level) * x


class BrightnessClassifier(torch.nn.Module):
    """Class 1 where the mean pixel is above 0.3, else class 0."""

    def forward(self, x):
        bright = (x.flatten(1).mean(1) > 0.3).float()
        return torch.stack([1 - bright, bright], 1)


def test_the_vae_study_measures_the_background_and_what_removing_it_recovers():
    vae_limits = load_study("vae_limits")
    torch.manual_seed(0)
    images = torch.zeros(40, 1, 8, 8)
    images[:20, :, 2:6, 2:6] = 1.0  # dim: 16 of 64 pixels lit, mean 0.25 -> class 0
    images[20:, :, 1:7, 1:7] = 1.0  # bright: 36 of 64 lit, mean 0.56 -> class 1
    labels = torch.tensor([0] * 20 + [1] * 20)
    measured = vae_limits.measure(BrightnessClassifier(), GreyReconstruction(0.2), images, labels, draws=2)
    assert measured["background"] == pytest.approx(0.2)
    # lifted to grey, the dim images read as bright: half the images are misclassified
    assert measured["accuracy_mean"] == measured["classifier_on_grey"] == 0.5
    assert measured["accuracy_scale1"] == 0.5
    assert measured["accuracy_background_removed"] == 1.0  # the clean images again
