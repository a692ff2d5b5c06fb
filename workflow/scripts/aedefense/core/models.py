"""The classifier, the autoencoders, and the defended (stacked) model.

Architectures follow docs/decisions.md: the classifier is four blocks of
[3x3 conv, BatchNorm, ReLU, 2x2 max-pool] with dropout after blocks 2 and 4, a dense layer
and the class layer; the autoencoders have two stride-2 3x3 convolutions with ReLU and a dense
layer to the code, and a decoder that mirrors it with two stride-2 transposed convolutions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from aedefense.plan.families import family as family_record


class Classifier(nn.Module):
    """`blocks` blocks of [3x3 conv, BatchNorm, ReLU, 2x2 max-pool] with dropout after every
    second block, a dense layer and the class layer: images of in_shape (C, H, W) -> logits.

    >>> import torch
    >>> classifier = Classifier((3, 32, 32), 4, blocks=3, channels=8, dense=16, dropout=0.0).eval()
    >>> classifier(torch.rand(5, 3, 32, 32)).shape
    torch.Size([5, 4])
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        classes: int,
        blocks: int = 4,
        channels: int = 32,
        dense: int = 500,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        layers, in_channels = [], in_shape[0]
        for block in range(blocks):
            layers += [
                nn.Conv2d(in_channels, channels, 3, padding=1),
                nn.BatchNorm2d(channels),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            if block % 2 == 1:  # after blocks 2 and 4
                layers.append(nn.Dropout(dropout))
            in_channels = channels
        self.features = nn.Sequential(*layers)
        side_h, side_w = in_shape[1] >> blocks, in_shape[2] >> blocks
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * side_h * side_w, dense),
            nn.ReLU(),
            nn.Linear(dense, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def folded(classifier: Classifier) -> Classifier:
    """A copy of the classifier, in evaluation mode, in the form attacks and evaluations run it
    (config.yaml fast_forward): each BatchNorm folded into the convolution before it (its
    affine map at the running statistics, torch.nn.utils.fusion.fuse_conv_bn_eval) and each
    max-pool moved before its ReLU (max and ReLU commute exactly, and ReLU then runs on a
    quarter of the values). The same function up to float rounding; the classifier itself is
    unchanged. Only for evaluation mode: a folded BatchNorm no longer normalises by its batch.

    >>> import torch
    >>> classifier = Classifier((1, 28, 28), 10, blocks=2, channels=8, dense=16, dropout=0.0).eval()
    >>> fast = folded(classifier)
    >>> [type(layer).__name__ for layer in fast.features][:3], fast.features.training
    (['Conv2d', 'MaxPool2d', 'ReLU'], False)
    >>> x = torch.rand(5, 1, 28, 28)
    >>> bool((fast(x) - classifier(x)).abs().max() < 1e-5)
    True
    """
    from copy import deepcopy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    fast = deepcopy(classifier).eval()
    layers, kept = list(fast.features), []
    while layers:
        layer = layers.pop(0)
        after = layers[0] if layers else None
        if isinstance(layer, nn.Conv2d) and isinstance(after, nn.BatchNorm2d):
            kept.append(fuse_conv_bn_eval(layer, layers.pop(0)))
        elif isinstance(layer, nn.ReLU) and isinstance(after, nn.MaxPool2d):
            kept += [layers.pop(0), layer]
        else:
            kept.append(layer)
    fast.features = nn.Sequential(*kept)
    return fast.eval()


def fast_forward_form(classifier: Classifier | None, autoencoder: nn.Module | None, device) -> tuple:
    """(classifier, autoencoder) as attack and evaluation jobs run them where config.yaml's
    fast_forward is on: the classifier folded (a copy) and, on a CPU, both in channels-last
    memory, where oneDNN's convolutions run faster (the autoencoder converted in place). The
    same function up to float rounding."""
    if classifier is not None:
        classifier = folded(classifier)
    if torch.device(device).type == "cpu":
        for part in (classifier, autoencoder):
            if part is not None:
                part.to(memory_format=torch.channels_last)
    return classifier, autoencoder


class Autoencoder(nn.Module):
    """AE (family 'ae') or VAE (family 'vae').

    encode(x) -> (mu, logvar); logvar is None for an AE. decode(z) -> (mean, logvar_x): the
    reconstruction in [0, 1] and, for a VAE with a Gaussian likelihood, the per-pixel
    log-variance (else None). For a Bernoulli likelihood the mean is the pixel probability.

    >>> import torch
    >>> x = torch.rand(2, 1, 28, 28)
    >>> ae = Autoencoder((1, 28, 28), "ae", channels=8, latent_dim=16).eval()
    >>> mu, logvar = ae.encode(x)
    >>> mu.shape, logvar is None
    (torch.Size([2, 16]), True)
    >>> vae = Autoencoder((1, 28, 28), "vae", channels=8, latent_dim=4).eval()
    >>> mean = vae(x)  # scale 0: z = mu
    >>> mean.shape, bool(mean.min() >= 0 and mean.max() <= 1)
    (torch.Size([2, 1, 28, 28]), True)
    >>> torch.equal(mean, vae(x, scale=1.0, generator=torch.Generator().manual_seed(0)))  # z sampled
    False
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        family: str = "ae",
        channels: int = 32,
        latent_dim: int = 128,
        likelihood: str = "gaussian",
        variance_floor: float = 1e-4,
    ) -> None:
        super().__init__()
        # variational (a VAE): a posterior head (logvar), sampled at scale > 0, trained on an ELBO
        self.variational = family_record(family).variational
        self.family, self.likelihood, self.variance_floor = family, likelihood, variance_floor
        self.in_shape = tuple(in_shape)
        c, h, w = self.in_shape
        self.code_shape = (channels, (h + 3) // 4, (w + 3) // 4)  # two stride-2 halvings
        flat = channels * self.code_shape[1] * self.code_shape[2]
        self.encoder = nn.Sequential(
            nn.Conv2d(c, channels, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.to_mu = nn.Linear(flat, latent_dim)
        self.to_logvar = nn.Linear(flat, latent_dim) if self.variational else None
        self.gaussian_output = self.variational and likelihood == "gaussian"
        out_channels = 2 * c if self.gaussian_output else c
        self.from_code = nn.Linear(latent_dim, flat)
        self.decoder = nn.Sequential(
            nn.ReLU(),
            nn.ConvTranspose2d(channels, channels, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(channels, out_channels, 3, stride=2, padding=1, output_padding=1),
        )

    def encode(self, x):
        features = self.encoder(x)
        logvar = self.to_logvar(features) if self.to_logvar is not None else None
        return self.to_mu(features), logvar

    def decode_logits(self, z):
        """Pre-activation output cropped to the input size: (mean logits, logvar or None)."""
        out = self.decoder(self.from_code(z).view(-1, *self.code_shape))
        out = out[:, :, : self.in_shape[1], : self.in_shape[2]]
        c = self.in_shape[0]
        if self.gaussian_output:
            return out[:, :c], out[:, c:]
        return out, None

    def decode(self, z):
        logits, raw_logvar = self.decode_logits(z)
        mean = torch.sigmoid(logits)
        if raw_logvar is None:
            return mean, None
        # variance floored at variance_floor (the authors' code)
        return mean, torch.log(self.variance_floor + F.softplus(raw_logvar))

    def latent(self, mu, logvar, scale: float, generator=None):
        """z = mu + scale * sigma * noise; scale 0 (or an AE) gives z = mu exactly."""
        if logvar is None or scale == 0:
            return mu
        noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + scale * torch.exp(0.5 * logvar) * noise

    def forward(self, x: torch.Tensor, scale: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
        mu, logvar = self.encode(x)
        return self.decode(self.latent(mu, logvar, scale, generator))[0]


class DefendedModel(nn.Module):
    """classifier(decoder(encoder(x))), the defence as one module.

    latent: 'mean' (z = mu, what the attacker differentiates) or 'sample' with scale s
    (z ~ N(mu, (s sigma)^2)); s = 0 equals 'mean'. autoencoder None: the bare classifier.

    >>> import torch
    >>> classifier = Classifier((1, 28, 28), 10, blocks=2, channels=8, dense=16, dropout=0.0)
    >>> vae = build_autoencoder((1, 28, 28), "vae", {"channels": 8, "latent_dim": 4})
    >>> deployed = DefendedModel(classifier, vae, "sample", scale=1.0, generator=torch.Generator().manual_seed(0))
    >>> deployed.eval()(torch.rand(3, 1, 28, 28)).shape
    torch.Size([3, 10])
    """

    def __init__(
        self,
        classifier: nn.Module,
        autoencoder: Autoencoder | None = None,
        latent: str = "mean",
        scale: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if latent not in ("mean", "sample"):
            raise ValueError(f"latent mode {latent!r}; allowed: mean, sample")
        self.classifier, self.autoencoder = classifier, autoencoder
        self.latent_mode, self.scale, self.generator = latent, float(scale), generator

    def reconstruct(self, x):
        if self.autoencoder is None:
            return x
        scale = self.scale if self.latent_mode == "sample" else 0.0
        return self.autoencoder(x, scale=scale, generator=self.generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.reconstruct(x))


# torch's CPU sampler fills normal draws 16 values at a time (a partial last block is drawn
# anew), so the draws of consecutive pieces are those of the whole batch, in order, exactly
# when each piece's draw is a whole number of blocks.
CPU_NORMAL_BLOCK = 16


class InPieces(nn.Module):
    """`model` on at most `size` images at a time, the outputs joined in order, at the rate per
    image of a batch that fits a CPU's cache (config.yaml cpu_forward_batch). Every image gets
    the numbers the whole batch gives it where keeps_numbers(model, size) holds.

    >>> import torch
    >>> classifier = Classifier((1, 28, 28), 10, blocks=2, channels=8, dense=16, dropout=0.0).eval()
    >>> x = torch.rand(10, 1, 28, 28)
    >>> torch.equal(InPieces(classifier, 4)(x), classifier(x))
    True
    """

    def __init__(self, model: nn.Module, size: int) -> None:
        super().__init__()
        self.model, self.size = model, int(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(x) <= self.size:
            return self.model(x)
        return torch.cat([self.model(piece) for piece in x.split(self.size)])


def keeps_numbers(model: nn.Module, size: int) -> bool:
    """Whether `model` in pieces of `size` images gives each image the whole batch's numbers:
    a model built here that draws nothing (a classifier alone, or behind an AE or a VAE's mean
    code), or a sampling VAE whose draw for a piece (size x latent_dim values) is whole blocks
    of CPU_NORMAL_BLOCK. A user's defence need not act on each image alone: no.

    >>> vae = build_autoencoder((1, 28, 28), "vae", {"channels": 8, "latent_dim": 10})
    >>> classifier = Classifier((1, 28, 28), 10, blocks=2, channels=8, dense=16, dropout=0.0)
    >>> [keeps_numbers(DefendedModel(classifier, vae, "sample", 1.0), size) for size in (100, 8, 30)]
    [False, True, False]
    >>> keeps_numbers(DefendedModel(classifier, vae, "mean"), 30)
    True
    """
    if not isinstance(model, (DefendedModel, Classifier)):
        return False
    if isinstance(model, Classifier) or model.autoencoder is None or not model.autoencoder.variational:
        return True
    if model.latent_mode == "mean" or model.scale == 0:
        return True
    return (size * model.autoencoder.to_mu.out_features) % CPU_NORMAL_BLOCK == 0


def in_pieces_on_cpu(model: nn.Module, device: torch.device, size: int | None) -> nn.Module:
    """The model a job runs: in pieces of `size` images on a CPU where that keeps every image's
    numbers (keeps_numbers), else whole (and on a GPU, or where size is None or 0)."""
    if device.type == "cpu" and size and keeps_numbers(model, size):
        return InPieces(model, size)
    return model


def build_autoencoder(in_shape: Sequence[int], family: str, settings: dict) -> Autoencoder:
    """The autoencoder of `family` ('ae' or 'vae') with a config's settings: channels and
    latent_dim, and for a VAE vae_likelihood and variance_floor where given.

    >>> vae = build_autoencoder((1, 28, 28), "vae", {"channels": 8, "latent_dim": 4, "vae_likelihood": "bernoulli"})
    >>> vae.family, vae.likelihood, vae.gaussian_output
    ('vae', 'bernoulli', False)
    """
    vae_only = {"likelihood": "vae_likelihood", "variance_floor": "variance_floor"}
    return Autoencoder(
        in_shape,
        family=family,
        channels=settings["channels"],
        latent_dim=settings["latent_dim"],
        **{arg: settings[key] for arg, key in vae_only.items() if key in settings},
    )
