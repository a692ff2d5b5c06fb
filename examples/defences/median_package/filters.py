"""The median filter the purifier applies (Xu et al. 2018 squeeze images with it)."""

import torch
from torch.nn import functional as F


def median_filter(x: torch.Tensor, size: int) -> torch.Tensor:
    """Each pixel replaced by the median of the size x size window around it (edges repeated)."""
    pad = size // 2
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    windows = padded.unfold(2, size, 1).unfold(3, size, 1)  # N, C, H, W, size, size
    return windows.flatten(-2).median(dim=-1).values
