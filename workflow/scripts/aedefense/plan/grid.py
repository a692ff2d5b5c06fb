"""Which jobs a config asks for: the models to train, the evaluations every figure and table
shows, the latent analyses of Fig. 5. The rules expand their inputs from here; params.py cuts
each of those jobs' settings."""

from __future__ import annotations

from aedefense.plan.cells import Cell, cell_from_name, format_number, is_cell_name, replicate_name, split_replicate
from aedefense.plan.families import family
from aedefense.plan.names import CLEAN, UNDEFENDED
from aedefense.plan.paper_figures import ACCURACY_FIGURES, FIGURES, LATENT_FIGURE  # noqa: F401 (re-exported)

# every configured defence, built-in and user, under one attack (config defence_comparison)
DEFENCES_FIGURE = "defences"

# The `threads` entry of config.yaml that each rule's jobs run with (a job sets torch to it).
RULE_THREADS = {
    "prepare": "prepare",
    "train_classifier": "train_classifier",
    "train_autoencoder": "train_autoencoder",
    "attack": "attack",
    "attack_adaptive": "attack",
    "evaluate": "evaluate",
    "evaluate_adaptive": "evaluate",
    "latent": "evaluate",
    "health": "evaluate",
    "contract": "evaluate",
}


def rule_threads(config: dict, rule: str) -> int:
    return config["threads"][RULE_THREADS[rule]]


def training_seeds_of(config: dict, name: str) -> int:
    """How many training seeds a cell (or the undefended classifier, names.UNDEFENDED) has:
    `training_seeds`, or more for the cells `training_seeds_cells` lists. The undefended
    classifier has as many as any cell: a cell's seed r stands in front of classifier r."""
    extra = config.get("training_seeds_cells") or {}
    if name == UNDEFENDED:
        return classifier_seeds(config)
    return max(config["training_seeds"], extra.get(name, 0))


def classifier_seeds(config: dict) -> int:
    """The classifiers trained per dataset: one per training seed of the most-seeded cell."""
    return max([config["training_seeds"], *(config.get("training_seeds_cells") or {}).values()])


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


def grid_cells(grid: dict) -> list[Cell]:
    """The cells of a figure grid in the figure's order, as named in the grid (denoising 1 at
    stp 0 included: it shows the model of denoising 0)."""
    return [
        Cell(family_name, bool(denoising), float(stp), float(alpha))
        for family_name in grid["families"]
        for denoising in grid["denoising"]
        for stp in grid["stp"]
        for alpha in grid["alpha"]
    ]


def defence_scales(grid: dict, cell: Cell) -> list[float]:
    """A family that is not variational (an AE) has no latent sampling: it is evaluated at
    scale 0 whatever the figure says."""
    return [float(s) for s in grid["scales"]] if family(cell.family).variational else [0.0]


def grid_points(grid: dict) -> list[tuple[Cell, float]]:
    """Every (cell, latent scale) a figure grid shows, in the figure's order."""
    return [(cell, scale) for cell in grid_cells(grid) for scale in defence_scales(grid, cell)]


def figure_cells(config: dict, figure: str) -> list[Cell]:
    return grid_cells(config["figures"][figure])


def trained_cells(config: dict, figures=FIGURES) -> list[Cell]:
    """Every model to train for the given figures: each distinct canonical cell once."""
    cells = {cell.canonical() for figure in figures for cell in figure_cells(config, figure)}
    return sorted(cells, key=lambda c: (c.family, c.denoising, c.stp, c.alpha))


def is_adaptive(config: dict, attack: str) -> bool:
    """An adaptive (EOT) attack averages over latent draws at the deployed scale, so its
    adversarial sets are made per scale. A suite is adaptive too: it attacks a defence that
    samples with its rand protocol, at the deployed scale."""
    settings = config["attacks"].get(attack, {})
    return "eot_draws" in settings or settings.get("method") == "suite"


def _shown_pairs(config: dict, figure: str) -> set[tuple[str, float]]:
    """(trained cell name, scale) of every point a figure's grid shows."""
    return {(cell.canonical().name, scale) for cell, scale in grid_points(config["figures"][figure])}


def evaluations(config: dict, figures=ACCURACY_FIGURES, all_reference_cells=True, comparisons=None) -> list[tuple]:
    """Every (dataset, cell, attack, eps, scale) the given figures need, once each.

    Per (dataset, cell, scale): the clean accuracy (attack CLEAN, eps 0) and the figure
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
        pairs |= _shown_pairs(config, figure)
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
        for r in range(training_seeds_of(config, cell))
    )


def comparison_evaluations(config: dict, name: str) -> set[tuple]:
    """A comparison figure: the cells and scales of the paper figures it is `like`, clean and
    under each of its attacks; the undefended classifier under its attacks but the EOT ones
    (on a deterministic model an EOT attack is the plain one; a suite runs its standard
    protocol there)."""
    spec = config["comparison_figures"][name]
    pairs = set().union(*(_shown_pairs(config, layout) for layout in figure_layouts(config, name)))
    rows = longer_attack_evaluations(config, pairs | {(UNDEFENDED, 0.0)})
    for dataset in config["datasets"]:
        eps_grid = [float(e) for e in config["data"][dataset]["eps"]]
        rows.add((dataset, UNDEFENDED, CLEAN, 0.0, 0.0))
        for attack in spec["attacks"]:
            if "eot_draws" not in config["attacks"].get(attack, {}):
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
    """The sanity check that a longer attack leaves no more accuracy: the longer attack at
    sanity_eps on every (cell, scale) a figure shows."""
    longer = config["sanity"]["longer_attack"]
    if not longer:
        return set()
    return {
        (dataset, cell, longer, sanity_eps(config, dataset), scale)
        for dataset in config["datasets"]
        for cell, scale in pairs
    }


def evaluation_scales(config: dict) -> dict[tuple[str, str], list[float]]:
    """Per (cell, attack), training seed aside: every latent scale the figures evaluate it at.
    One evaluation job per adversarial set covers them all (an adaptive attack's sets are
    made per scale, so their evaluations are too)."""
    scales: dict[tuple[str, str], set] = {}
    for _, cell, attack, _, scale in evaluations(config) + defence_comparison_evaluations(config):
        scales.setdefault((split_replicate(cell)[0], attack), set()).add(scale)
    return {key: sorted(values) for key, values in scales.items()}


def evaluation_job_scales(scales_by_cell: dict, cell: str, attack: str, scale=None) -> list[float]:
    """The latent scales of one evaluation job: its own for an adaptive attack's set, else
    every scale at which the figures show the cell under that attack (scales_by_cell:
    evaluation_scales(config)). A deterministic defence asked for outside every figure is
    evaluated at scale 0; a VAE has no such default."""
    if scale is not None:
        return [float(scale)]
    base = split_replicate(cell)[0]
    scales = scales_by_cell.get((base, attack))
    if scales is not None:
        return scales
    if not is_cell_name(base) or not family(cell_from_name(base).family).variational:
        return [0.0]  # the classifier, a user defence, an AE
    raise ValueError(
        f"no figure evaluates {base} under {attack}, so its latent scales are unknown; ask "
        "for a figure or a table instead"
    )


def figure_attacks(config: dict, figure: str) -> list[str]:
    """The attacks a figure draws, its main attack first."""
    if figure == DEFENCES_FIGURE:
        return [config["defence_comparison"]["attack"]]
    if figure in config["comparison_figures"]:
        return list(config["comparison_figures"][figure]["attacks"])
    return list(dict.fromkeys([config["figure_attack"], config["reference_attack"]["attack"]]))


def figure_layouts(config: dict, figure: str) -> list[str]:
    """The paper figures whose grids, panels and curves an accuracy figure has: one, or for a
    comparison figure `like` several, their panels stacked."""
    if figure in config["comparison_figures"]:
        like = config["comparison_figures"][figure]["like"]
        return [like] if isinstance(like, str) else list(like)
    return [figure]


def latent_analyses(config: dict) -> list[tuple]:
    """Every (dataset, cell, eps) of Fig. 5: the figure's cells at the dataset's latent_eps."""
    cells = {cell.canonical().name for cell in figure_cells(config, LATENT_FIGURE)}
    return sorted(
        (dataset, cell, float(config["data"][dataset]["latent_eps"]))
        for dataset in config["datasets"]
        for cell in cells
    )


def _listed(values) -> str:
    return ", ".join(str(v) for v in values) or "none"


def planned_cells(config: dict) -> set[str]:
    """The names of every cell a config trains: the figures', the reference attack's and the
    defence comparison's."""
    cells = {cell.name for cell in trained_cells(config)}
    cells |= {cell for cell, _ in compared_cells(config)}
    return cells | {cell_from_name(c).canonical().name for c in config["reference_attack"]["cells"]}


def compared_cells(config: dict) -> list[tuple[str, float]]:
    """(trained cell name, scale) of the built-in cells the defence comparison shows."""
    shown = config["defence_comparison"]["cells"]
    return [(cell_from_name(c["cell"]).canonical().name, float(c["scale"])) for c in shown]


def defence_comparison_points(config: dict, dataset: str) -> list[tuple[str, float]]:
    """(name, scale) of every defence the comparison shows on a dataset, per training seed:
    the undefended classifier, the listed cells and the user defences (scale 0)."""
    points = [(c, s, training_seeds_of(config, c)) for c, s in [(UNDEFENDED, 0.0), *compared_cells(config)]]
    points += [(name, 0.0, user_defence_seeds(config, name)) for name in user_defences(config, dataset)]
    return [(replicate_name(name, r), scale) for name, scale, count in points for r in range(count)]


def defence_comparison_evaluations(config: dict) -> list[tuple]:
    """Every (dataset, cell, attack, eps, scale) of the defence comparison: each point clean
    and under the comparison's attack at every eps of the dataset's grid."""
    attack, rows = config["defence_comparison"]["attack"], set()
    for dataset in config["datasets"]:
        eps_grid = [float(e) for e in config["data"][dataset]["eps"]]
        for name, scale in defence_comparison_points(config, dataset):
            rows.add((dataset, name, CLEAN, 0.0, scale))
            rows.update((dataset, name, attack, eps, scale) for eps in eps_grid)
    return sorted(rows)


def target_problems(
    config: dict, dataset: str, name: str | None = None, attack=None, eps=None, scale=None, cells=None
) -> list[str]:
    """Why a requested file lies outside the config (empty if it does not): a dataset not in
    `datasets`, a cell no figure trains, a training seed beyond `training_seeds`, an eps not
    in the dataset's grid, a latent scale no figure uses. name: a cell, names.UNDEFENDED or a
    classifier file name, each with any training-seed suffix; cells: planned_cells(config),
    computed once by a caller that asks for many targets."""
    problems = []
    if dataset not in config["datasets"]:
        problems.append(f"dataset {dataset} is not in datasets ({_listed(config['datasets'])})")
    if name is not None:
        base, replicate = split_replicate(name)
        seeds = classifier_seeds(config) if base == "classifier" else training_seeds_of(config, base)
        if replicate >= seeds and base not in config["defences"]:
            problems.append(
                f"training seed _r{replicate} of {base} is not trained: it has {seeds} (training_seeds, "
                "training_seeds_cells; seed 0 has no suffix, seed r > 0 the suffix _r<r>)"
            )
        cells = planned_cells(config) if cells is None else cells
        if base in config["defences"]:
            problems += user_defence_problems(config, dataset, base, replicate, scale)
        elif base not in (UNDEFENDED, "classifier") and base not in cells:
            try:
                trained_cell(base)  # a cell trained under another name says which
                problems.append(
                    f"no figure trains the cell {base} (the cells of this config: {_listed(sorted(cells))})"
                )
            except ValueError as error:
                problems.append(str(error))
    for key, text in (("eps", eps), ("latent scale", scale)):
        if isinstance(text, str) and text != format_number(float(text)):
            problems.append(
                f"{key} {text} is spelled otherwise in this workflow's file names: {format_number(float(text))} "
                "(each number has one spelling, the shortest that reads back as the same number)"
            )
    if eps is not None:
        if dataset not in config["data"]:
            grid = []
        elif attack == config["health"]["attack"]:
            grid = health_eps(config, dataset)
        else:
            grid = [float(e) for e in config["data"][dataset]["eps"]]
        if attack == CLEAN and float(eps) != 0:
            problems.append(f"the clean images are evaluated at eps 0 only, not {eps}")
        elif attack != CLEAN and float(eps) not in grid:
            problems.append(f"eps {eps} is not in data.{dataset}.eps ({_listed(grid)})")
    if scale is not None:
        scales = {0.0} | {float(s) for grid in config["figures"].values() for s in grid["scales"]}
        scales = sorted(scales | {scale for _, scale in compared_cells(config)})
        if float(scale) not in scales:
            problems.append(f"latent scale {scale} is not among the figures' scales ({_listed(scales)})")
    return problems


def user_defences(config: dict, dataset: str) -> list[str]:
    """The user defences (config `defences:`) that apply to a dataset, in config order."""
    if dataset not in config["datasets"]:
        return []
    return [name for name, entry in config["defences"].items() if dataset in entry["datasets"]]


def uses_classifier(entry: dict) -> bool:
    """Whether a user defence runs the dataset's classifier: every purifier stands in front of
    it; a whole model does where it wraps it (`classifier: true`)."""
    return entry["returns"] == "purifier" or bool(entry.get("classifier"))


def user_defence_seeds(config: dict, name: str) -> int:
    """A defence that runs the classifier is evaluated with each training seed's; a whole model
    of its own is one."""
    return classifier_seeds(config) if uses_classifier(config["defences"][name]) else 1


def user_defence_problems(config: dict, dataset: str, name: str, replicate: int, scale) -> list[str]:
    entry, problems = config["defences"][name], []
    if dataset not in entry["datasets"]:
        problems.append(f"defence {name} is not evaluated on {dataset}: its datasets are {_listed(entry['datasets'])}")
    if replicate >= user_defence_seeds(config, name):
        problems.append(f"defence {name} is a whole model of its own: it has no training seed _r{replicate}")
    if scale is not None and float(scale) != 0:
        problems.append(f"defence {name} has no latent scale: its files have scale 0 only, not {scale}")
    return problems


def health_points(config: dict) -> list[tuple]:
    """Every (dataset, cell, scale) the health table checks: each point of the accuracy
    figures' grids and of the defence comparison (the undefended classifier and every user
    defence among them), per training seed."""
    pairs = {(UNDEFENDED, 0.0)}
    for figure in ACCURACY_FIGURES:
        pairs |= _shown_pairs(config, figure)
    points = {
        (dataset, replicate_name(cell, r), scale)
        for dataset in config["datasets"]
        for cell, scale in pairs
        for r in range(training_seeds_of(config, cell))
    }
    for dataset in config["datasets"]:
        points |= {(dataset, name, scale) for name, scale in defence_comparison_points(config, dataset)}
    return sorted(points)


def health_eps(config: dict, dataset: str) -> list[float]:
    """The eps at which the health attack runs: the dataset's grid and the unbounded eps."""
    grid = [float(e) for e in config["data"][dataset]["eps"]]
    return sorted({*grid, float(config["health"]["unbounded_eps"])})
