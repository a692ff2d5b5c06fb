"""What every throughput benchmark does first: its options read, torch's threads set, the
device chosen and config.yaml read."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import torch
import yaml

from aedefense.jobs.setup import select_device

ROOT = Path(__file__).resolve().parents[1]


def start_benchmark(parser) -> tuple:
    """(options, device, config.yaml) of a benchmark whose parser takes --threads and --device;
    prints when and on how busy a machine it runs, which every table it prints depends on."""
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(when_and_load())
    return args, select_device(args.device), yaml.safe_load((ROOT / "config.yaml").read_text())


def when_and_load() -> str:
    """The date and the machine's load: a table measured on a busy machine says so. (The load
    average counts every process; on Linux a process in another session still gets its share.)"""
    load = "load unknown"
    if hasattr(os, "getloadavg"):
        load = "load average {:.1f} / {:.1f} / {:.1f} (1 / 5 / 15 min)".format(*os.getloadavg())
    return f"measured {datetime.now():%Y-%m-%d %H:%M}, {load} on {os.cpu_count()} cores"
