"""Adversarial sets on disk: results/{dataset}/ae/{cell}/adv/{attack}_eps{eps}.pt."""

from __future__ import annotations

from pathlib import Path

import torch

from aedefense.attacks import AttackResult
from aedefense.io import load_torch, save_torch, set_aside
from aedefense.names import WORST

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
    what = "adversarial set"
    record = load_torch(path, what)
    keys = {"indices", "labels", "adversarial", "success", "l2", "linf", "settings"}
    if (
        not isinstance(record, dict)
        or record.get("kind") != KIND
        or record.get("format_version") != FORMAT_VERSION
        or not keys <= set(record)
    ):
        raise set_aside(path, what, "is not an adversarial set of this workflow")
    n = len(record["indices"])
    if not all(len(record[k]) == n for k in ("labels", "adversarial", "l2", "linf")):
        raise set_aside(path, what, "is damaged: its arrays disagree in length")
    adversarial = record["adversarial"]
    if adversarial.numel() and (float(adversarial.min()) < 0 or float(adversarial.max()) > 1):
        raise set_aside(path, what, "is damaged: images outside [0, 1]")
    return record


def load_evaluated_sets(paths: dict, indices: torch.Tensor) -> dict:
    """The adversarial sets of one evaluation (attack -> path), each checked to hold the
    images this evaluation attacks (`indices`), in the same order."""
    records = {}
    for attack, path in paths.items():
        record = records[attack] = load_adversarial_set(path)
        if not torch.equal(record["indices"], indices):
            raise set_aside(path, "adversarial set", "attacked other images than this evaluation expects")
    return records


def worst_case(records: dict) -> dict:
    """Several adversarial sets of the same images as one record for the result row: success
    where any attack succeeded, the largest L2 and L-infinity perturbation per image."""
    sets = list(records.values())
    return {
        "settings": {"method": WORST, "over": list(records)},
        "success": torch.stack([r["success"] for r in sets]).any(0),
        "l2": torch.stack([r["l2"] for r in sets]).amax(0),
        "linf": torch.stack([r["linf"] for r in sets]).amax(0),
    }
