"""Job set-up shared by every compute job: the device and the seeds."""

from __future__ import annotations

import os
import random
import sys

import numpy as np
import torch


def select_device(setting: str) -> torch.device:
    """'auto': CUDA when present, else CPU; 'cuda' fails clearly where there is none."""
    if setting == "cpu" or (setting == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise RuntimeError("device: cuda is set in config, but torch sees no CUDA device here")
    return torch.device("cuda")


def seed_everything(seed: int, device: torch.device) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if device.type == "cuda":
        # deterministic cuBLAS; must be set before the first cuBLAS call
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    deterministic_algorithms()


def deterministic_algorithms() -> None:
    """torch.use_deterministic_algorithms(True, warn_only=True), without its import of torch's
    compiler (torch._inductor, 1-2 s on a CPU: a tenth of an evaluation job) to set a flag of
    the compiler's, which no job uses; the public call where the compiler is loaded already."""
    set_flag = getattr(torch._C, "_set_deterministic_algorithms", None)
    if set_flag is not None and "torch._inductor" not in sys.modules:
        try:
            set_flag(True, warn_only=True)
            return
        except TypeError:  # a torch whose private setter changed: the public call
            pass
    torch.use_deterministic_algorithms(True, warn_only=True)
