"""Models and losses: shapes, the latent scale, the contractive penalty and its estimate."""

import numpy as np
import pytest
import torch

from aedefense.core import losses
from aedefense.core.models import Autoencoder, Classifier, DefendedModel


@pytest.mark.parametrize("shape,classes", [((1, 28, 28), 10), ((3, 32, 32), 62)])
def test_output_shapes(shape, classes):
    x = torch.rand(5, *shape)
    assert Classifier(shape, classes)(x).shape == (5, classes)
    for family, likelihood in (("ae", "gaussian"), ("vae", "gaussian"), ("vae", "bernoulli")):
        model = Autoencoder(shape, family=family, likelihood=likelihood)
        mu, logvar = model.encode(x)
        assert mu.shape == (5, 128)
        assert (logvar is None) == (family == "ae")
        mean, logvar_x = model.decode(mu)
        mean = mean.detach()
        assert mean.shape == x.shape and 0 <= float(mean.min()) and float(mean.max()) <= 1
        gaussian = family == "vae" and likelihood == "gaussian"
        assert (logvar_x is not None) == gaussian
        if gaussian:
            assert logvar_x.shape == x.shape
            assert float(logvar_x.detach().exp().min()) >= 1e-4  # the variance floor


def test_training_pairs_denoising_versus_noise_injection():
    x = torch.rand(4, 1, 28, 28)
    noisy_in, noisy_target = losses.training_pair(x, 0.3, False, torch.Generator().manual_seed(1))
    clean_in, clean_target = losses.training_pair(x, 0.3, True, torch.Generator().manual_seed(1))
    assert torch.equal(noisy_in, clean_in)  # the same seeded noise reaches both inputs
    assert torch.equal(noisy_target, noisy_in)  # plain: reconstruct what it was given
    assert torch.equal(clean_target, x)  # denoising: reconstruct the clean image
    assert 0 <= float(noisy_in.min()) and float(noisy_in.max()) <= 1
    assert 0.15 < float((noisy_in - x).std()) < 0.3  # clipped N(0, 0.3^2)
    same_in, same_target = losses.training_pair(x, 0.0, True)
    assert same_in is x and same_target is x


def test_kl_warmup_is_linear_then_one():
    assert losses.kl_weight(0, 10, 5) == 0.0
    assert losses.kl_weight(25, 10, 5) == 0.5
    assert losses.kl_weight(50, 10, 5) == 1.0 and losses.kl_weight(99, 10, 5) == 1.0
    assert losses.kl_weight(0, 10, 0) == 1.0


def test_latent_scale_semantics():
    torch.manual_seed(0)
    classifier, vae = Classifier((1, 28, 28), 10).eval(), Autoencoder((1, 28, 28), "vae").eval()
    with torch.no_grad():
        vae.to_logvar.bias.fill_(-1.0)  # a posterior with visible spread
    x = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        mean = DefendedModel(classifier, vae, "mean")(x)
        zero = DefendedModel(classifier, vae, "sample", scale=0.0)
        assert torch.equal(zero(x), mean) and torch.equal(zero(x), zero(x))
        mu, logvar = vae.encode(x)
        spreads = []
        for scale in (0.5, 1.0, 2.0, 4.0):
            draws = torch.stack([vae.latent(mu, logvar, scale, torch.Generator().manual_seed(k)) for k in range(200)])
            spreads.append(float((draws - mu).std()))
            expected = scale * float(torch.exp(0.5 * logvar).mean())
            assert spreads[-1] == pytest.approx(expected, rel=0.1)
        assert spreads == sorted(spreads)
        sampled = DefendedModel(classifier, vae, "sample", scale=1.0)
        assert not torch.equal(sampled(x), sampled(x))


def _small_encoder():
    torch.manual_seed(0)
    model = Autoencoder((1, 12, 12), "vae", channels=4, latent_dim=6)
    return model, (lambda x: model.encode(x)[0])


def test_contractive_exact_matches_autograd_jacobian():
    _, code = _small_encoder()
    x = torch.rand(7, 1, 12, 12)  # more than EXACT_CPU_CHUNK: two chunks, the last short
    expected = np.mean(
        [float(torch.autograd.functional.jacobian(code, x[i : i + 1]).pow(2).sum()) for i in range(len(x))]
    )
    assert float(losses.contractive_exact(code, x).detach()) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("chunk_size", [1, 3, 7])
def test_contractive_exact_chunks_change_neither_value_nor_gradient(chunk_size):
    model, code = _small_encoder()
    x = torch.rand(7, 1, 12, 12)

    def value_and_gradient(chunk):
        model.zero_grad()
        penalty = losses.contractive_exact(code, x, chunk_size=chunk)
        penalty.backward()
        return float(penalty.detach()), model.encoder[0].weight.grad.clone()

    default_value, default_gradient = value_and_gradient(None)
    value, gradient = value_and_gradient(chunk_size)
    assert value == pytest.approx(default_value, rel=1e-6)
    torch.testing.assert_close(gradient, default_gradient, rtol=1e-5, atol=1e-7)
    assert float(default_gradient.abs().sum()) > 0


def test_contractive_exact_of_an_empty_batch_is_nan_not_an_error():
    _, code = _small_encoder()
    assert torch.isnan(losses.contractive_exact(code, torch.rand(0, 1, 12, 12)))


def test_contractive_penalty_trains_the_encoder():
    model, code = _small_encoder()
    penalty = losses.contractive_exact(code, torch.rand(3, 1, 12, 12))
    penalty.backward()
    assert float(model.to_mu.weight.grad.abs().sum()) > 0
    assert model.to_logvar.weight.grad is None  # beta = 0: the variance head is not penalised


def test_contractive_projection_is_unbiased():
    """Mean of 400 one-projection estimates within 5% of the exact value (their standard
    error is about 2% for this model)."""
    _, code = _small_encoder()
    x = torch.rand(3, 1, 12, 12)
    exact = float(losses.contractive_exact(code, x).detach())
    generator = torch.Generator().manual_seed(0)
    estimates = [float(losses.contractive_projection(code, x, 1, generator)) for _ in range(400)]
    assert np.mean(estimates) == pytest.approx(exact, rel=0.05)
