"""What every throughput benchmark does first: its options read, torch's threads set, the
device chosen and config.yaml read."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from aedefense.jobs.setup import select_device

ROOT = Path(__file__).resolve().parents[1]


def start_benchmark(parser) -> tuple:
    """(options, device, config.yaml) of a benchmark whose parser takes --threads and --device."""
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    return args, select_device(args.device), yaml.safe_load((ROOT / "config.yaml").read_text())
