"""The evaluation of a defended model: which images are attacked, accuracy over latent draws,
and the latent displacement."""

import pytest
import torch

from aedefense.core.defences import Defence
from aedefense.core.models import Autoencoder, DefendedModel
from aedefense.jobs.evaluation import accuracy_over_draws, attacked_indices, draw_seed, latent_displacement


def test_evaluation_averages_over_latent_draws():
    torch.manual_seed(0)
    classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)).eval()
    vae = Autoencoder((1, 28, 28), "vae", channels=8, latent_dim=8).eval()
    with torch.no_grad():
        vae.to_logvar.bias.fill_(2.0)  # wide posterior: predictions change between draws
        # a classifier of the reconstruction's deviation from its mean grey level (about
        # 0.46 for this decoder), so that sampled reconstructions change its answer
        classifier[1].bias.copy_(-0.46 * classifier[1].weight.sum(1))
    x, y = torch.rand(200, 1, 28, 28), torch.randint(0, 10, (200,))
    defence = Defence(classifier, None, vae, None, {})
    draws = accuracy_over_draws(defence, x, y, scale=2.0, draws=6, seed=0)
    assert len(draws) == 6 and len(set(draws)) > 1
    assert draws == accuracy_over_draws(defence, x, y, scale=2.0, draws=6, seed=0)
    # by hand: the same generator stream, one defended pass per draw
    generator = torch.Generator().manual_seed(0)
    defended = DefendedModel(classifier, vae, "sample", 2.0, generator)
    with torch.no_grad():
        by_hand = [float((defended(x).argmax(1) == y).float().mean()) for _ in range(6)]
    assert draws == pytest.approx(by_hand)
    assert accuracy_over_draws(defence, x, y, scale=0.0, draws=6, seed=0) == [
        pytest.approx(float((DefendedModel(classifier, vae)(x).argmax(1) == y).float().mean()))
    ]  # scale 0 is deterministic: one draw


def test_each_point_draws_its_own_latent_samples_unless_they_are_common():
    point = {"seed": 0, "draw_seeds": "per_point", "scale": 1.0}
    seeds = {
        draw_seed(dict(point, scale=scale), attack, eps)
        for attack in ("cw", "pgd")
        for eps in (0.1, 0.2)
        for scale in (1.0, 2.0)
    }
    assert len(seeds) == 8  # one per (attack, eps, scale)
    assert draw_seed(point, "cw", 0.1) == draw_seed(point, "cw", "0.1")  # eps as the wildcard's text
    assert draw_seed(point, "cw", 0.1) != draw_seed(dict(point, seed=1), "cw", 0.1)
    common = dict(point, draw_seeds="common", seed=3)
    assert {draw_seed(common, "cw", 0.1), draw_seed(dict(common, scale=2.0), "pgd", 0.3)} == {3}


def test_attacked_indices():
    assert attacked_indices("mnist", 100, 10, 0).tolist() == list(range(10))
    btsc = attacked_indices("btsc", 100, 10, 0)
    assert btsc.tolist() == sorted(set(btsc.tolist())) and len(btsc) == 10
    assert torch.equal(btsc, attacked_indices("btsc", 100, 10, 0))
    assert not torch.equal(btsc, attacked_indices("btsc", 100, 10, 1))
    with pytest.raises(ValueError, match="lower data.mnist.attack_images"):
        attacked_indices("mnist", 5, 10, 0)


def test_latent_displacement_of_an_unchanged_image_is_zero():
    torch.manual_seed(0)
    ae = Autoencoder((1, 28, 28), "ae", channels=8, latent_dim=8).eval()
    x = torch.rand(10, 1, 28, 28)
    stats = latent_displacement(ae, x, x)
    assert stats["cosine"] == pytest.approx(1.0) and stats["norm_ratio"] == pytest.approx(1.0)
    assert stats["relative_displacement"] == pytest.approx(0.0, abs=1e-6)
    moved = latent_displacement(ae, x, (x + 0.3).clamp(0, 1))
    assert moved["cosine"] < 1.0 and moved["relative_displacement"] > 0
    assert stats["cosine_se"] == pytest.approx(0.0, abs=1e-6)
    assert 0 < moved["cosine_se"] < 1 - moved["cosine"]
    assert stats["clean_code_diameter"] > 0
