"""The work one job does, in the units its timing file records and the projection divides by a
rate: image-steps (training), image-forwards (evaluations, health checks), image-encodings
(latent analysis). The job scripts record it and aedefense.cost.projection plans with it; attacks
count image-iterations with attack_specs.work_of. Torch-free."""

from __future__ import annotations


def training(epochs: int, train_images: int) -> int:
    """Image-steps: every training image once per epoch."""
    return epochs * train_images


def evaluation(images: int, draws_per_scale, image_sets: int = 1) -> int:
    """Image-forwards: each image of each set once per latent draw, at each scale."""
    return images * sum(draws_per_scale) * image_sets


# The health job's own passes over the images: the randomness check's two seeded predictions
# and the zero-gradient check's forward and backward (counted as one).
HEALTH_PASSES = 3


def health(images: int, transfer_sets: int, draws: int = 1) -> int:
    """Image-forwards: its own passes, and the transfer check's evaluation of the undefended
    classifier's adversarial sets at each eps (over the latent draws)."""
    return images * (HEALTH_PASSES + transfer_sets * draws)


def latent(images: int) -> int:
    """Image-encodings: the clean and the adversarial image."""
    return 2 * images
