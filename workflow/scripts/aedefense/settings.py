"""Each job's slice of the config: only what its output depends on, after per-cell overrides.

These are the values a rule hands to its script as params, so that editing one cell's
settings reruns that cell's jobs and nothing else.
"""

from __future__ import annotations

from aedefense.cells import Cell, cell_from_name, replicate_name, split_replicate

FIGURES = ("fig1", "fig2", "fig3", "fig4", "fig5")
CLASSIFIER_KEYS = ("blocks", "channels", "dense", "dropout", "batch_size", "lr", "weight_decay")
VAE_ONLY = ("vae_likelihood", "variance_floor", "kl_warmup_epochs")


def classifier_settings(config: dict, dataset: str, replicate: int = 0) -> dict:
    settings = {key: config["classifier"][key] for key in CLASSIFIER_KEYS}
    settings["epochs"] = config["data"][dataset]["classifier_epochs"]
    settings["seed"] = config["seeds"]["classifier"] + replicate
    return settings


def classifier_name(replicate: int) -> str:
    """The classifier file of a training seed: classifier, classifier_r1, ..."""
    return replicate_name("classifier", replicate)


def trained_cell(name: str) -> Cell:
    """The cell a model file is trained for (any training seed); a name that is trained
    under another name fails."""
    cell = cell_from_name(split_replicate(name)[0])
    if cell.canonical() != cell:
        raise ValueError(
            f"cell {name} is not trained separately: with stp 0 denoising changes nothing, so "
            f"its model is {cell.canonical().name}"
        )
    return cell


def autoencoder_settings(config: dict, dataset: str, name: str) -> dict:
    """One autoencoder; name may carry a training seed (_r<r>): its seed is seeds.autoencoder + r."""
    cell = trained_cell(name)
    base, replicate = split_replicate(name)
    settings = dict(config["autoencoder"])
    settings.update(config["data"][dataset].get("autoencoder", {}))
    settings.update(config["cell_overrides"].get(f"{dataset}/{base}", {}))
    settings["seed"] = config["seeds"]["autoencoder"] + replicate
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


def figure_style(config: dict, figure: str) -> dict:
    """The look of one figure: the shared style with that figure's overrides on top."""
    style = dict(config["figure_style"])
    style.update(config["figure_style_overrides"].get(figure, {}))
    return style


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


UNDEFENDED = "none"  # the cell name of the bare classifier
CLEAN = "clean"  # the attack name of the eps = 0 evaluation
WORST = "worst"  # the attack name of the per-example worst case over worst_case_over


def attacked_images(config: dict, dataset: str) -> dict:
    """How many test images are attacked and, for BTSC (drawn at random), the seed."""
    settings = {"images": config["data"][dataset]["attack_images"]}
    if dataset == "btsc":
        settings["subset_seed"] = config["seeds"]["attack_subset"]
    return settings


def is_adaptive(config: dict, attack: str) -> bool:
    """An adaptive (EOT) attack averages over latent draws at the deployed scale, so its
    adversarial sets are made per scale."""
    return "eot_draws" in config["attacks"].get(attack, {})


def is_stochastic(cell: str, scale: float) -> bool:
    """The defence samples its latent code: a VAE cell evaluated at a scale above 0."""
    return cell != UNDEFENDED and cell.startswith("vae") and scale > 0


def attack_settings(config: dict, dataset: str, attack: str, eps: float, cell: str = UNDEFENDED, scale=None) -> dict:
    """One attack job: the attack's settings, its eps, which images, and the seeds; for an
    adaptive attack also the scale it attacks at (draws 1 where the defence does not sample)."""
    if attack not in config["attacks"]:
        raise ValueError(f"attack {attack!r} is not defined under attacks in config.yaml")
    settings = dict(config["attacks"][attack])
    settings.update(name=attack, eps=float(eps), seed=config["seeds"]["attack"])
    settings.update(attacked_images(config, dataset))
    if is_adaptive(config, attack):
        if scale is None:
            raise ValueError(f"attack {attack!r} is adaptive (eot_draws): its adversarial sets need a scale")
        settings["scale"] = float(scale)
        if not is_stochastic(cell, float(scale)):
            settings["eot_draws"] = 1  # every draw is the same forward
    if settings["method"] == "cw" and settings.get("eot_draws", 1) == 1:  # deterministic
        del settings["seed"]
    return settings


def evaluation_settings(config: dict, dataset: str, cell: str, scales) -> dict:
    """One evaluation job: one adversarial set (or the clean images) at every latent scale
    in `scales`; latent draws only where the defence samples (a VAE, scale > 0)."""
    settings = {"scales": [float(s) for s in scales], "batch_size": config["evaluation"]["batch_size"]}
    settings.update(attacked_images(config, dataset))
    if any(is_stochastic(cell, s) for s in settings["scales"]):
        settings.update(draws=config["evaluation"]["latent_draws"], seed=config["seeds"]["evaluation"])
    return settings


def at_scale(settings: dict, cell: str, scale: float) -> dict:
    """An evaluation job's settings for one of its scales: the draws and their seed only
    where the defence samples at that scale."""
    one = {key: value for key, value in settings.items() if key not in ("scales", "draws", "seed")}
    one["scale"] = float(scale)
    if is_stochastic(cell, scale):
        one.update(draws=settings["draws"], seed=settings["seed"])
    return one


def evaluation_scales(config: dict) -> dict[tuple[str, str], list[float]]:
    """Per (cell, attack), training seed aside: every latent scale the figures evaluate it at.
    One evaluation job per adversarial set covers them all (an adaptive attack's sets are
    made per scale, so their evaluations are too)."""
    scales: dict[tuple[str, str], set] = {}
    for _, cell, attack, _, scale in evaluations(config):
        scales.setdefault((split_replicate(cell)[0], attack), set()).add(scale)
    return {key: sorted(values) for key, values in scales.items()}


def defence_scales(figure_grid: dict, cell: Cell) -> list[float]:
    """An AE has no latent sampling: it is evaluated at scale 0 whatever the figure says."""
    return [0.0] if cell.family == "ae" else [float(s) for s in figure_grid["scales"]]


ACCURACY_FIGURES = ("fig1", "fig2", "fig3", "fig4")


def evaluations(
    config: dict, figures=ACCURACY_FIGURES, all_reference_cells=True, comparisons=None
) -> list[tuple]:  # fmt: skip
    """Every (dataset, cell, attack, eps, scale) the given figures need, once each.

    Per (dataset, cell, scale): the clean accuracy (attack 'clean', eps 0) and the figure
    attack at every eps; the reference attack too for the undefended classifier and the
    reference cells. all_reference_cells: include the reference cells even where none of
    the figures shows them (the full table does; one figure's table does not).
    comparisons: the comparison figures to include (None: all of them).
    """
    figure_attack = config["figure_attack"]
    reference = config["reference_attack"]
    reference_cells = {UNDEFENDED, *reference["cells"]}
    pairs = {(UNDEFENDED, 0.0)} if figures else set()
    for figure in figures:
        grid = config["figures"][figure]
        for cell in figure_cells(config, figure):
            for scale in defence_scales(grid, cell):
                pairs.add((cell.canonical().name, scale))
    rows = longer_attack_evaluations(config, pairs)
    if all_reference_cells:
        for name in reference["cells"]:
            pairs.add((cell_from_name(name).canonical().name, 0.0))
    for dataset in config["datasets"]:
        eps_grid = [float(e) for e in config["data"][dataset]["eps"]]
        for cell, scale in pairs:
            rows.add((dataset, cell, CLEAN, 0.0, scale))
            attacks = [figure_attack] + ([reference["attack"]] if cell in reference_cells else [])
            for attack in dict.fromkeys(attacks):
                rows.update((dataset, cell, attack, eps, scale) for eps in eps_grid)
    names = config["comparison_figures"] if comparisons is None else comparisons
    for name in names:
        rows |= comparison_evaluations(config, name)
    return sorted(
        (dataset, replicate_name(cell, r), attack, eps, scale)
        for dataset, cell, attack, eps, scale in rows
        for r in range(config["training_seeds"])
    )


def comparison_evaluations(config: dict, name: str) -> set[tuple]:
    """A comparison figure: the cells and scales of the paper figure it is `like`, clean and
    under each of its attacks; the undefended classifier under its non-adaptive attacks (an
    adaptive attack on a deterministic model is the plain one)."""
    spec = config["comparison_figures"][name]
    grid = config["figures"][spec["like"]]
    pairs = {
        (cell.canonical().name, scale)
        for cell in figure_cells(config, spec["like"])
        for scale in defence_scales(grid, cell)
    }
    rows = longer_attack_evaluations(config, pairs | {(UNDEFENDED, 0.0)})
    for dataset in config["datasets"]:
        eps_grid = [float(e) for e in config["data"][dataset]["eps"]]
        rows.add((dataset, UNDEFENDED, CLEAN, 0.0, 0.0))
        for attack in spec["attacks"]:
            if not is_adaptive(config, attack):
                rows.update((dataset, UNDEFENDED, attack, eps, 0.0) for eps in eps_grid)
        for cell, scale in pairs:
            rows.add((dataset, cell, CLEAN, 0.0, scale))
            for attack in spec["attacks"]:
                rows.update((dataset, cell, attack, eps, scale) for eps in eps_grid)
    return rows


def sanity_eps(config: dict, dataset: str) -> float:
    """Where the longer attack runs: the middle of the eps grid, where accuracy is neither
    at its clean value nor at zero."""
    eps_grid = sorted(float(e) for e in config["data"][dataset]["eps"])
    return eps_grid[len(eps_grid) // 2]


def longer_attack_evaluations(config: dict, pairs) -> set[tuple]:
    """The sanity check 'more iterations do not raise accuracy': the longer attack at
    sanity_eps on every (cell, scale) a figure shows."""
    longer = config["sanity"]["longer_attack"]
    if not longer:
        return set()
    return {
        (dataset, cell, longer, sanity_eps(config, dataset), scale)
        for dataset in config["datasets"]
        for cell, scale in pairs
    }


def figure_attacks(config: dict, figure: str) -> list[str]:
    """The attacks a figure draws, its main attack first."""
    if figure in config["comparison_figures"]:
        return list(config["comparison_figures"][figure]["attacks"])
    return list(dict.fromkeys([config["figure_attack"], config["reference_attack"]["attack"]]))


def figure_layout(config: dict, figure: str) -> str:
    """The paper figure whose grid, panels and curves an accuracy figure has."""
    if figure in config["comparison_figures"]:
        return config["comparison_figures"][figure]["like"]
    return figure


def latent_analyses(config: dict) -> list[tuple]:
    """Every (dataset, cell, eps) of Fig. 5: the figure's cells at the dataset's latent_eps."""
    cells = {cell.canonical().name for cell in figure_cells(config, "fig5")}
    return sorted(
        (dataset, cell, float(config["data"][dataset]["latent_eps"]))
        for dataset in config["datasets"]
        for cell in cells
    )
