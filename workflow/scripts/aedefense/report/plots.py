"""Pictures of models: the reconstruction grid of an autoencoder cell."""

from __future__ import annotations

import torch
from torchvision.utils import save_image

from aedefense.core import losses
from aedefense.data.prepared import to_unit
from aedefense.files.io import atomic_path
from aedefense.plan.cells import Cell


@torch.no_grad()
def save_reconstruction_grid(model, images_uint8, cell: Cell, seed: int, dest, count=16):
    """Rows: clean test images, the noisy inputs (training noise stp), their reconstructions
    with z = mu, and for a VAE reconstructions sampled at scale 1."""
    model = model.eval().cpu()
    x = to_unit(images_uint8[:count].cpu())
    generator = torch.Generator().manual_seed(seed)
    x_in, _ = losses.training_pair(x, cell.stp, cell.denoising, generator)
    rows = [x, x_in, model(x_in, scale=0.0)]
    if model.variational:
        rows.append(model(x_in, scale=1.0, generator=generator))
    with atomic_path(dest) as tmp:
        save_image(torch.cat(rows), tmp, nrow=count, padding=2, pad_value=1.0, format="png")
