"""Adversarial sets on disk: results/{dataset}/ae/{cell}/adv/{attack}_eps{eps}[_s{scale}].pt.

A set records its identity (dataset, cell, attack, eps, scale, and the sha256 of the
classifier, autoencoder and test data it was made from) beside its images. A job that reads
a set checks, before using it, that the identity is the one it expects, that every value is
finite and in [0, 1], that every image lies in the eps box around its clean image, and that
the images are the ones whose distances the attack recorded, and that the file is the one
the attack wrote: its sha256 is the one in the checksum file the attack wrote beside it
(<set>.pt.sha256, an output of the attack rule). A set that fails is marked for rebuilding,
and the error names what it holds against what was expected.
"""

from __future__ import annotations

from pathlib import Path

import torch

from aedefense.core.attacks import AttackResult
from aedefense.files.io import load_torch, save_torch, set_aside
from aedefense.files.provenance import (
    checksum_file,
    identity_mismatches,
    recorded_checksum,
    sha256_of,
    write_checksum_file,
)
from aedefense.plan.names import WORST

# 2: the identity added; a set of format 1 is made again
FORMAT_VERSION = 2
KIND = "adversarial_set"
WHAT = "adversarial set"
# How far beyond eps (L-infinity, pixels in [0, 1]) an image may lie: float32 rounding of
# x + delta, far below one grey level (1/255).
LINF_TOLERANCE = 1e-5


def set_identity(dataset: str, cell: str, attack: str, eps: float, scale: float | None, sources: dict) -> dict:
    """The identity of one adversarial set; scale None for a set that serves every scale;
    sources: Defence.sources (classifier, autoencoder and test data sha256)."""
    identity = {"dataset": dataset, "cell": cell, "attack": attack, "eps": float(eps)}
    identity["scale"] = None if scale is None else float(scale)
    return {**identity, **sources}


def save_adversarial_set(path, *, identity: dict, settings: dict, indices, labels, result: AttackResult):
    save_torch(
        {
            "format_version": FORMAT_VERSION,
            "kind": KIND,
            "identity": identity,
            "settings": settings,
            "indices": indices.cpu(),
            "labels": labels.cpu(),
            "adversarial": result.adversarial.detach().float().cpu(),
            "success": result.success.cpu(),
            "success_step": result.success_step.cpu(),
            "l2": result.l2.cpu(),
            "linf": result.linf.cpu(),
            "part": None if result.part is None else result.part.cpu(),
        },
        path,
    )
    write_checksum_file(path)


def load_adversarial_set(path: str | Path) -> dict:
    """A set read and checked on its own: a complete archive, the sha256 its attack recorded,
    format, array lengths, finite values in [0, 1]."""
    record = load_torch(path, WHAT)  # first: a damaged archive says so
    recorded = recorded_checksum(path)
    if recorded is None:
        raise set_aside(
            path, WHAT, f"has no readable checksum file {checksum_file(path)} beside it, which its attack job writes"
        )
    found = sha256_of(path)
    if found != recorded:
        raise set_aside(
            path,
            WHAT,
            f"changed after its attack wrote it: its sha256 is {found[:12]}..., the attack recorded "
            f"{recorded[:12]}... in {checksum_file(path)}",
        )
    keys = {"identity", "indices", "labels", "adversarial", "success", "l2", "linf", "settings"}
    if not isinstance(record, dict) or record.get("kind") != KIND or not keys <= set(record):
        raise set_aside(path, WHAT, "is not an adversarial set of this workflow")
    if record.get("format_version") != FORMAT_VERSION:
        raise set_aside(
            path,
            WHAT,
            f"was written by another version of this workflow (format {record.get('format_version')!r}; "
            f"this version reads format {FORMAT_VERSION}, which records what the set was made from)",
        )
    n = len(record["indices"])
    if not all(len(record[k]) == n for k in ("labels", "adversarial", "l2", "linf")):
        raise set_aside(path, WHAT, "is damaged: its arrays disagree in length")
    adversarial = record["adversarial"]
    not_finite = int((~torch.isfinite(adversarial)).sum())
    if not_finite:
        raise set_aside(path, WHAT, f"holds {not_finite} pixel values that are not finite (NaN or infinite)")
    low, high = (float(adversarial.min()), float(adversarial.max())) if adversarial.numel() else (0.0, 1.0)
    if low < 0 or high > 1:
        raise set_aside(path, WHAT, f"holds pixel values outside [0, 1] (from {low:.4g} to {high:.4g})")
    return record


def check_against_clean(record: dict, path, expected: dict, indices, clean: torch.Tensor, labels) -> None:
    """Refuse a set that is not the one a job expects: another identity, other images or
    labels, an image outside the eps box around its clean image, or images that are not the
    ones whose distances the attack recorded (replaced after the attack)."""
    problems = identity_mismatches(record["identity"], expected)
    if problems:
        raise set_aside(path, WHAT, "is not the set this job reads (copied from elsewhere?): " + "; ".join(problems))
    if not torch.equal(record["indices"], indices.cpu()) or not torch.equal(record["labels"], labels.cpu()):
        raise set_aside(path, WHAT, "attacked other images (or labels) than this evaluation expects")
    adversarial = record["adversarial"]
    if adversarial.shape != clean.shape:
        raise set_aside(path, WHAT, f"holds images of shape {tuple(adversarial.shape)}, expected {tuple(clean.shape)}")
    distance = (adversarial - clean.cpu()).abs().flatten(1).amax(1)
    eps = float(expected.get("eps", record["identity"]["eps"]))
    if len(distance) and float(distance.max()) > eps + LINF_TOLERANCE:
        worst = int(distance.argmax())
        raise set_aside(
            path,
            WHAT,
            f"leaves the eps box: image {worst} lies {float(distance[worst]):.4g} from its clean image in "
            f"L-infinity, beyond eps {eps} (tolerance {LINF_TOLERANCE})",
        )
    differs = (distance - record["linf"]).abs() > LINF_TOLERANCE
    if bool(differs.any()):
        first = int(differs.nonzero()[0])
        raise set_aside(
            path,
            WHAT,
            f"holds images that are not the attack's: image {first} lies {float(distance[first]):.4g} from its "
            f"clean image in L-infinity, the attack recorded {float(record['linf'][first]):.4g} "
            f"({int(differs.sum())} of {len(differs)} images differ)",
        )


def load_evaluated_sets(paths: dict, expected: dict, indices, clean: torch.Tensor, labels) -> dict:
    """The adversarial sets of one evaluation (attack -> path), each checked against the
    identity the job expects (`expected`, the attack's name added per set) and against the
    clean images it attacked."""
    records = {}
    for attack, path in paths.items():
        record = records[attack] = load_adversarial_set(path)
        check_against_clean(record, path, {**expected, "attack": attack}, indices, clean, labels)
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
