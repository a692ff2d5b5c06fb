"""Adversarial sets on disk: results/{dataset}/ae/{cell}/adv/{attack}_eps{eps}.pt."""

from __future__ import annotations

from pathlib import Path

import torch

from aedefense.attacks import AttackResult
from aedefense.io import load_torch, save_torch

FORMAT_VERSION = 1
KIND = "adversarial_set"


def save_adversarial_set(path, dataset, cell, settings, indices, labels, result: AttackResult):
    save_torch(
        {
            "format_version": FORMAT_VERSION,
            "kind": KIND,
            "dataset": dataset,
            "cell": cell,
            "settings": settings,
            "indices": indices.cpu(),
            "labels": labels.cpu(),
            "adversarial": result.adversarial.detach().float().cpu(),
            "success": result.success.cpu(),
            "success_step": result.success_step.cpu(),
            "l2": result.l2.cpu(),
            "linf": result.linf.cpu(),
        },
        path,
    )


def load_adversarial_set(path: str | Path) -> dict:
    hint = f"Rebuild it: snakemake --cores 2 --forcerun attack {path}"
    record = load_torch(path, "adversarial set", hint)
    keys = {"indices", "labels", "adversarial", "success", "l2", "linf", "settings"}
    if (
        not isinstance(record, dict)
        or record.get("kind") != KIND
        or record.get("format_version") != FORMAT_VERSION
        or not keys <= set(record)
    ):
        raise ValueError(f"{path} is not an adversarial set of this workflow. {hint}")
    n = len(record["indices"])
    if not all(len(record[k]) == n for k in ("labels", "adversarial", "l2", "linf")):
        raise ValueError(f"{path}: its arrays disagree in length; the file is damaged. {hint}")
    adversarial = record["adversarial"]
    if adversarial.numel() and (float(adversarial.min()) < 0 or float(adversarial.max()) > 1):
        raise ValueError(f"{path}: images outside [0, 1]; the file is damaged. {hint}")
    return record


def worst_case(records: dict) -> dict:
    """Several adversarial sets of the same images as one record for the result row: success
    where any attack succeeded, the largest L2 and L-infinity perturbation per image."""
    sets = list(records.values())
    return {
        "settings": {"method": "worst", "over": list(records)},
        "success": torch.stack([r["success"] for r in sets]).any(0),
        "l2": torch.stack([r["l2"] for r in sets]).amax(0),
        "linf": torch.stack([r["linf"] for r in sets]).amax(0),
    }
