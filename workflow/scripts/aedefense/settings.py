"""Each job's slice of the config: only what its output depends on, after per-cell overrides.

These are the values a rule hands to its script as params, so that editing one cell's
settings reruns that cell's jobs and nothing else.
"""

from __future__ import annotations

from aedefense.cells import Cell, cell_from_name

FIGURES = ("fig1", "fig2", "fig3", "fig4", "fig5")
CLASSIFIER_KEYS = ("blocks", "channels", "dense", "dropout", "batch_size", "lr", "weight_decay")
VAE_ONLY = ("vae_likelihood", "variance_floor", "kl_warmup_epochs")


def classifier_settings(config: dict, dataset: str) -> dict:
    settings = {key: config["classifier"][key] for key in CLASSIFIER_KEYS}
    settings["epochs"] = config["data"][dataset]["classifier_epochs"]
    settings["seed"] = config["seeds"]["classifier"]
    return settings


def trained_cell(name: str) -> Cell:
    """The cell a model file is trained for; a name that is trained under another name fails."""
    cell = cell_from_name(name)
    if cell.canonical() != cell:
        raise ValueError(
            f"cell {name} is not trained separately: with stp 0 denoising changes nothing, so "
            f"its model is {cell.canonical().name}"
        )
    return cell


def autoencoder_settings(config: dict, dataset: str, name: str) -> dict:
    cell = trained_cell(name)
    settings = dict(config["autoencoder"])
    settings.update(config["cell_overrides"].get(f"{dataset}/{name}", {}))
    settings["seed"] = config["seeds"]["autoencoder"]
    settings.update(
        family=cell.family, denoising=cell.denoising, stp=cell.stp, alpha=cell.alpha
    )
    # Leave out what this cell's model does not depend on, so changing it reruns nothing here.
    unused = set(VAE_ONLY) if cell.family == "ae" else set()
    if cell.alpha == 0:
        unused |= {"contractive", "contractive_projections"}
    elif settings["contractive"] == "exact":
        unused.add("contractive_projections")
    return {key: value for key, value in settings.items() if key not in unused}


def figure_cells(config: dict, figure: str) -> list[Cell]:
    """The cells a figure shows, as named in its grid (denoising 1 at stp 0 included)."""
    grid = config["figures"][figure]
    return [
        Cell(family, bool(denoising), float(stp), float(alpha))
        for family in grid["families"]
        for denoising in grid["denoising"]
        for stp in grid["stp"]
        for alpha in grid["alpha"]
    ]


def trained_cells(config: dict, figures=FIGURES) -> list[Cell]:
    """Every model to train for the given figures: each distinct canonical cell once."""
    cells = {cell.canonical() for figure in figures for cell in figure_cells(config, figure)}
    return sorted(cells, key=lambda c: (c.family, c.denoising, c.stp, c.alpha))
