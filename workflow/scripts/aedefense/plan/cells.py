"""Autoencoder cells: (family, denoising, stp, alpha) and their names, e.g. vae_d1_stp0.4_a0."""

from __future__ import annotations

import re
from dataclasses import dataclass

from aedefense.plan.families import FAMILIES, FAMILY_REGEX, family
from aedefense.plan.names import UNDEFENDED

CELL_PATTERN = re.compile(
    rf"^(?P<family>{FAMILY_REGEX})_d(?P<denoising>[01])_stp(?P<stp>[0-9]+(\.[0-9]+)?)"
    r"_a(?P<alpha>[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?)$"
)
# The same names for a Snakemake wildcard (no named groups)
CELL_REGEX = rf"{FAMILY_REGEX}_d[01]_stp[0-9]+(?:\.[0-9]+)?_a[0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?"
# Training seed r > 0 of a cell (config training_seeds) is its own model: <cell>_r<r>, and the
# undefended classifier of that seed none_r<r>; seed 0 keeps the plain name.
REPLICATE_REGEX = r"(?:_r[1-9][0-9]*)?"
REPLICATE_PATTERN = re.compile(r"^(?P<base>.+?)(?:_r(?P<replicate>[1-9][0-9]*))?$")


def split_replicate(name: str) -> tuple[str, int]:
    """'vae_d1_stp0.4_a0_r2' -> ('vae_d1_stp0.4_a0', 2); no suffix is replicate 0."""
    match = REPLICATE_PATTERN.match(name)
    return match["base"], int(match["replicate"] or 0)


def replicate_name(base: str, replicate: int) -> str:
    return base if replicate == 0 else f"{base}_r{replicate}"


def format_number(value: float) -> str:
    """The shortest text that reads back as the same float: 0.4 -> '0.4', 1.0 -> '1'."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


@dataclass(frozen=True)
class Cell:
    family: str
    denoising: bool
    stp: float
    alpha: float

    def __post_init__(self):
        family(self.family)  # refuses an unknown one
        if self.stp < 0:
            raise ValueError(f"stp must be >= 0, got {self.stp}")
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")

    @property
    def name(self) -> str:
        return f"{self.family}_d{int(self.denoising)}_stp{format_number(self.stp)}_a{format_number(self.alpha)}"

    def canonical(self) -> Cell:
        """With no input noise, denoising changes nothing: one model serves both."""
        if self.denoising and self.stp == 0:
            return Cell(self.family, False, self.stp, self.alpha)
        return self


def cell_from_name(name: str) -> Cell:
    match = CELL_PATTERN.match(name)
    if not match:
        raise ValueError(
            f"{name!r} is not a cell name; expected <family>_d<0|1>_stp<std>_a<alpha>, "
            f"e.g. vae_d1_stp0.4_a0 (family {' or '.join(FAMILIES)})"
        )
    cell = Cell(
        family=match["family"],
        denoising=match["denoising"] == "1",
        stp=float(match["stp"]),
        alpha=float(match["alpha"]),
    )
    if cell.name != name:
        raise ValueError(f"{name!r} is not written canonically; write it as {cell.name!r}")
    return cell


def is_cell_name(name: str) -> bool:
    """An autoencoder cell's name (not the classifier's, not a user defence's)."""
    return CELL_PATTERN.fullmatch(name) is not None


def family_of(name: str) -> str | None:
    """The autoencoder family of a cell name (a training seed suffix allowed); None for the
    undefended classifier."""
    base = split_replicate(name)[0]
    return None if base == UNDEFENDED else cell_from_name(base).family


def is_stochastic(family_name: str | None, scale: float) -> bool:
    """The defence samples its latent code: a variational family (a VAE) evaluated at a latent
    scale above 0."""
    return family_name is not None and family(family_name).variational and scale > 0
