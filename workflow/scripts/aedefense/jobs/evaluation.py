"""Which images are attacked, the defence's accuracy as deployed, and the latent analysis."""

from __future__ import annotations

import hashlib

import torch
from torch.nn import functional as F

from aedefense.plan.datasets import dataset_info


def attacked_indices(dataset: str, test_size: int, count: int, seed: int) -> torch.Tensor:
    """The first `count` test images (MNIST, Fashion-MNIST), or `count` drawn with a fixed
    seed (BTSC), as the paper did; sorted."""
    if count > test_size:
        raise ValueError(
            f"{count} images to attack, but the {dataset} test set has {test_size}; lower data.{dataset}.attack_images"
        )
    if dataset_info(dataset).attacked == "first":
        return torch.arange(count)
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(test_size, generator=generator)[:count].sort().values


def draw_seed(settings: dict, attack: str, eps: float) -> int:
    """The seed of one evaluated point's latent draws (settings: at_scale's, with `seed`,
    `draw_seeds` and `scale`): its own for each (attack, eps, scale) under draw_seeds
    per_point, so the draw errors of a curve's points are independent; the evaluation seed
    itself under `common`, so every point reuses the same draws."""
    if settings.get("draw_seeds", "common") == "common":
        return settings.get("seed", 0)
    point = f"{settings['seed']}/{attack}/{float(eps)!r}/{float(settings['scale'])!r}"
    return int.from_bytes(hashlib.sha256(point.encode()).digest()[:7], "big")


@torch.inference_mode()
def accuracy_over_draws(defence, images, labels, scale: float, draws: int, seed: int, batch_size=1000) -> list[float]:
    """Accuracy of the defence as deployed (core.defences.Defence: a VAE samples its code at
    `scale`, a stochastic user defence draws as it does), once per draw; one value when the
    defence is deterministic. The draws are seeded: the same seed, the same draws.

    images: one tensor, or a list of tensors of the same images attacked in different ways:
    then an image counts as correct only if it is correct in every one (the worst case)."""
    return correct_over_draws(defence, images, labels, scale, draws, seed, batch_size)[0]


def correct_over_draws(
    defence, images, labels, scale: float, draws: int, seed: int, batch_size=1000
) -> tuple[list[float], torch.Tensor]:
    """accuracy_over_draws's accuracies, and per image the number of draws that classified it
    correctly (int64, on the CPU): what a paired comparison of two defences on the same
    attacked images needs."""
    image_sets = images if isinstance(images, (list, tuple)) else [images]
    draws = draws if defence.samples_at(scale) else 1
    device = image_sets[0].device
    generator = torch.Generator(device=device).manual_seed(seed)
    torch.manual_seed(seed)  # a user defence draws from torch's own generator
    defended = defence.model(scale, generator).eval()
    accuracies = []
    counts = torch.zeros(len(labels), dtype=torch.int64, device=device)
    for _ in range(draws):
        correct = torch.ones(len(labels), dtype=torch.bool, device=device)
        for image_set in image_sets:
            for start in range(0, len(labels), batch_size):
                logits = defended(image_set[start : start + batch_size])
                correct[start : start + batch_size] &= logits.argmax(1) == labels[start : start + batch_size]
        accuracies.append(int(correct.sum()) / len(labels))
        counts += correct
    return accuracies, counts.cpu()


@torch.inference_mode()
def latent_displacement(autoencoder, clean, adversarial) -> dict:
    """How the attack moves the code: cos(mu, mu*), ||mu*|| / ||mu||, ||mu* - mu|| / ||mu||
    averaged over images, each with its standard error over the images (<name>_se), and the
    diameter (largest pairwise distance) of the clean and the adversarial codes."""
    mu = autoencoder.encode(clean)[0]
    mu_adv = autoencoder.encode(adversarial)[0]
    norm, norm_adv = mu.norm(dim=1), mu_adv.norm(dim=1)
    per_image = {
        "cosine": F.cosine_similarity(mu, mu_adv, dim=1),
        "norm_ratio": norm_adv / norm,
        "relative_displacement": (mu_adv - mu).norm(dim=1) / norm,
    }
    stats = {}
    for name, values in per_image.items():
        stats[name] = float(values.mean())
        stats[f"{name}_se"] = float(values.std() / len(values) ** 0.5) if len(values) > 1 else 0.0
    return {
        **stats,
        "clean_code_diameter": float(torch.cdist(mu, mu).max()),
        "adversarial_code_diameter": float(torch.cdist(mu_adv, mu_adv).max()),
    }
