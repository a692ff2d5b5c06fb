"""Each job's slice of the config: only what its output depends on, after per-cell overrides.

These are the values a rule hands to its script as params, so that editing one cell's
settings reruns that cell's jobs and nothing else. Which jobs exist is grid.py's business.
"""

from __future__ import annotations

from aedefense.plan.attack_specs import uses_seed
from aedefense.plan.cells import family_of, is_stochastic, split_replicate
from aedefense.plan.datasets import dataset_info
from aedefense.plan.families import settings_not_read_by
from aedefense.plan.grid import figure_attacks, figure_layouts, is_adaptive, trained_cell
from aedefense.plan.names import AUTO, UNDEFENDED

CLASSIFIER_KEYS = ("blocks", "channels", "dense", "dropout", "batch_size", "lr", "weight_decay")
CONTRACTIVE_ONLY = ("contractive", "contractive_projections")  # the penalty's estimator


def classifier_settings(config: dict, dataset: str, replicate: int = 0) -> dict:
    settings = {key: config["classifier"][key] for key in CLASSIFIER_KEYS}
    settings["epochs"] = config["data"][dataset]["classifier_epochs"]
    settings["seed"] = config["seeds"]["classifier"] + replicate
    return settings


def autoencoder_settings(config: dict, dataset: str, name: str) -> dict:
    """One autoencoder; name may carry a training seed (_r<r>): its seed is seeds.autoencoder + r."""
    cell = trained_cell(name)
    base, replicate = split_replicate(name)
    settings = dict(config["autoencoder"])
    settings.update(config["data"][dataset].get("autoencoder", {}))
    settings.update(config["cell_overrides"].get(f"{dataset}/{base}", {}))
    settings["seed"] = config["seeds"]["autoencoder"] + replicate
    settings.update(family=cell.family, denoising=cell.denoising, stp=cell.stp, alpha=cell.alpha)
    # Leave out what this cell's model does not depend on, so changing it reruns nothing here.
    unused = settings_not_read_by(cell.family)
    if cell.alpha == 0:
        unused |= set(CONTRACTIVE_ONLY)
    elif settings["contractive"] == "exact":
        unused.add("contractive_projections")
    return {key: value for key, value in settings.items() if key not in unused}


def attacked_images(config: dict, dataset: str) -> dict:
    """How many test images are attacked and, where they are drawn at random (BTSC), the seed."""
    settings = {"images": config["data"][dataset]["attack_images"]}
    if dataset_info(dataset).attacked == "random":
        settings["subset_seed"] = config["seeds"]["attack_subset"]
    return settings


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
    if settings["method"] == "suite":
        # both protocols, each attack with its own settings: the one the defence takes is chosen below
        settings["protocol_choices"] = {
            key: [dict(config["attacks"][name], name=name) for name in settings.pop(key)]
            for key in ("standard", "rand")
        }
    with_user_defence(config, cell, settings)
    stochastic = defence_stochastic(config, cell, 0.0 if scale is None else float(scale))
    if stochastic == AUTO:
        settings["stochastic"] = AUTO  # the job decides, from the defence's contract check
    else:
        settings = final_settings(settings, stochastic)
    # an attack that draws nothing (CW, DeepFool) on a defence that draws nothing: its seed is
    # no reason to rerun it (AUTO: the defence may sample, so the seed stays)
    if not uses_seed(settings, stochastic == AUTO or bool(stochastic)):
        del settings["seed"]
    return settings


def user_defence_entry(config: dict, name: str) -> dict:
    """What a user defence's jobs depend on: its entry but the datasets it applies to (a
    dataset added there reruns nothing on the others) and its legend label."""
    return {key: value for key, value in config["defences"][name].items() if key not in ("datasets", "label")}


def with_user_defence(config: dict, cell: str, settings: dict) -> dict:
    """A job on a user defence gets its entry under `defence` (its jobs rerun when it
    changes); a cell's job gets nothing more, so its params stay as they were."""
    base = split_replicate(cell)[0]
    if base in config["defences"]:
        settings["defence"] = user_defence_entry(config, base)
    return settings


def defence_stochastic(config: dict, cell: str, scale: float):
    """Whether a defence draws anew on every forward pass: True or False where that is known
    when the jobs are planned (a VAE at scale > 0 does), or AUTO for a user defence whose
    contract check decides."""
    base = split_replicate(cell)[0]
    if base in config["defences"]:
        return config["defences"][base]["stochastic"]
    return is_stochastic(family_of(cell), scale)


def final_settings(settings: dict, stochastic: bool) -> dict:
    """An attack job's settings for a defence that samples (stochastic) or not: EOT draws
    only where it samples, and the suite's rand protocol there, its standard one elsewhere.
    Called once per job: by the plan where it knows whether the defence samples, else (a user
    defence planned as AUTO) by the job, with what the defence's contract check found."""
    settings = dict(settings)
    settings.pop("stochastic", None)
    if "scale" in settings and "eot_draws" in settings and not stochastic:
        settings["eot_draws"] = 1  # every draw is the same forward
    if "protocol_choices" in settings:
        # the standard protocol where the defence is deterministic, the rand one (EOT) where it samples
        settings["protocol"] = settings.pop("protocol_choices")["rand" if stochastic else "standard"]
    return settings


def evaluation_settings(config: dict, dataset: str, cell: str, scales) -> dict:
    """One evaluation job: one adversarial set (or the clean images) at every latent scale
    in `scales`; latent draws only where the defence samples (a VAE, scale > 0)."""
    settings = {"scales": [float(s) for s in scales], "batch_size": config["evaluation"]["batch_size"]}
    settings.update(attacked_images(config, dataset))
    if any(defence_stochastic(config, cell, s) for s in settings["scales"]):
        settings.update(
            draws=config["evaluation"]["latent_draws"],
            draw_seeds=config["evaluation"]["draw_seeds"],
            seed=config["seeds"]["evaluation"],
        )
    return with_user_defence(config, cell, settings)


DRAW_KEYS = ("draws", "draw_seeds", "seed")


def at_scale(settings: dict, stochastic: bool, scale: float) -> dict:
    """An evaluation job's settings for one of its scales: the draws and their seeding only
    where the defence samples at that scale (stochastic)."""
    one = {key: value for key, value in settings.items() if key not in ("scales", "defence", *DRAW_KEYS)}
    one["scale"] = float(scale)
    if stochastic:
        one.update({key: settings[key] for key in DRAW_KEYS})
    return one


def figure_style(config: dict, figure: str) -> dict:
    """The look of one figure: the shared style with that figure's overrides on top."""
    style = dict(config["figure_style"])
    style.update(config["figure_style_overrides"].get(figure, {}))
    return style


def sanity_settings(config: dict, main_attack: str) -> dict:
    """The sanity checks of a table whose curves show `main_attack`: the config's sanity keys."""
    return {"main_attack": main_attack, **config["sanity"]}


def accuracy_figure_settings(config: dict, figure: str) -> dict:
    """An accuracy figure's params: the paper figures whose grids and panels it has (layouts),
    those grids, its attacks (main first), the datasets (columns) and its style."""
    layouts = figure_layouts(config, figure)
    return {
        "layouts": layouts,
        "grids": {layout: config["figures"][layout] for layout in layouts},
        "attacks": figure_attacks(config, figure),
        "datasets": list(config["datasets"]),
        "style": figure_style(config, figure),
    }


def health_settings(config: dict, dataset: str, cell: str, scale: float) -> dict:
    """One cell's health checks at one latent scale: the thresholds, the eps of its sets, the
    images, and the seed of the randomness check."""
    settings = {key: value for key, value in config["health"].items() if key != "attack"}
    settings.update(
        attack=config["health"]["attack"],
        eps=[float(e) for e in config["data"][dataset]["eps"]],
        scale=float(scale),
        batch_size=config["evaluation"]["batch_size"],
        seed=config["seeds"]["evaluation"],
    )
    settings.update(attacked_images(config, dataset))
    if defence_stochastic(config, cell, float(scale)):
        settings["draws"] = config["evaluation"]["latent_draws"]
    return with_user_defence(config, cell, settings)
