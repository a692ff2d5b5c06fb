# Shared by every rule: the library on the path, the validated config, wildcard constraints,
# and the small functions that hand each rule its slice of config.

import sys
from pathlib import Path

# The library lives beside the job scripts: Snakemake puts a script's own directory on
# sys.path, so jobs import it in any environment (conda, container, cluster node) with no
# install step. The Snakefile itself needs it on the path too.
NUMBER_REGEX = r"[0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?"
LIBRARY = str(Path(workflow.basedir) / "workflow" / "scripts")
if LIBRARY not in sys.path:
    sys.path.insert(0, LIBRARY)

from aedefense.cells import CELL_REGEX, REPLICATE_REGEX, format_number, split_replicate
from aedefense.config import ConfigError, as_plain, resolve_path, validate_config
from aedefense import settings as slices
from aedefense.data.sources import DATASETS, official_files
import re

try:
    validate_config(
        config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
    )
except ConfigError as error:
    raise WorkflowError(str(error)) from None


wildcard_constraints:
    dataset="|".join(DATASETS),
    ae=f"(?:{CELL_REGEX}|{slices.UNDEFENDED}){REPLICATE_REGEX}",
    classifier=f"classifier{REPLICATE_REGEX}",
    attack="|".join([*config["attacks"], slices.CLEAN, slices.WORST]),
    figure="|".join(["fig[1-4]", *config["comparison_figures"]]),
    eps=NUMBER_REGEX,
    scale=NUMBER_REGEX,
    filename="|".join(
        re.escape(entry.name) for d in DATASETS for entry in official_files(d)
    ),


# Run where Snakemake runs, never as cluster jobs: downloads need the network that compute
# nodes may lack; tables and figures take seconds.
localrules:
    all,
    download,
    accuracy_table,
    figure_table,
    latent_table,
    accuracy_figure,
    latent_figure,


def raw_files(wildcards):
    """The verified official files of one dataset."""
    return [
        f"resources/{wildcards.dataset}/{entry.name}"
        for entry in official_files(wildcards.dataset)
    ]


def classifier_params(wildcards):
    replicate = split_replicate(wildcards.classifier)[1]
    return slices.classifier_settings(as_plain(config), wildcards.dataset, replicate)


def autoencoder_params(wildcards):
    return slices.autoencoder_settings(
        as_plain(config), wildcards.dataset, wildcards.ae
    )


def defence_inputs(wildcards):
    """The test data, the classifier, and the cell's autoencoder unless it is 'none', all of
    the cell's training seed."""
    base, replicate = split_replicate(wildcards.ae)
    classifier = slices.classifier_name(replicate)
    inputs = {
        "test": f"results/{wildcards.dataset}/data/test.pt",
        "classifier": f"results/{wildcards.dataset}/{classifier}.pt",
    }
    if base != slices.UNDEFENDED:
        slices.trained_cell(
            wildcards.ae
        )  # a clear error for a cell trained under another name
        inputs["autoencoder"] = (
            f"results/{wildcards.dataset}/ae/{wildcards.ae}/model.pt"
        )
    return inputs


def adversarial_set(dataset, cell, attack, eps, scale):
    """An adaptive attack's sets are made per latent scale; the others serve every scale."""
    if slices.is_adaptive(config, attack):
        return f"results/{dataset}/ae/{cell}/adv/{attack}_eps{eps}_s{scale}.pt"
    return f"results/{dataset}/ae/{cell}/adv/{attack}_eps{eps}.pt"


def evaluation_file(dataset, cell, attack, eps, scale):
    """One evaluation per adversarial set: an adaptive attack's per scale, the others (and
    the clean images, and the worst case) at all their scales in one file."""
    if slices.is_adaptive(config, attack):
        return f"results/{dataset}/ae/{cell}/eval/{attack}_eps{eps}_s{scale}.csv"
    return f"results/{dataset}/ae/{cell}/eval/{attack}_eps{eps}.csv"


def evaluate_inputs(wildcards):
    inputs = defence_inputs(wildcards)
    scale = wildcards.get("scale")  # adaptive attacks only
    if wildcards.attack == slices.WORST:
        for attack in config["worst_case_over"]:
            inputs[f"adversarial_{attack}"] = adversarial_set(
                wildcards.dataset, wildcards.ae, attack, wildcards.eps, scale
            )
    elif wildcards.attack != slices.CLEAN:
        inputs["adversarial"] = adversarial_set(
            wildcards.dataset, wildcards.ae, wildcards.attack, wildcards.eps, scale
        )
    return inputs


def latent_inputs(wildcards):
    return {
        "test": f"results/{wildcards.dataset}/data/test.pt",
        "autoencoder": f"results/{wildcards.dataset}/ae/{wildcards.ae}/model.pt",
        "adversarial": adversarial_set(
            wildcards.dataset, wildcards.ae, wildcards.attack, wildcards.eps, 0
        ),
    }


def attack_names(adaptive):
    """A wildcard pattern of the adaptive or of the plain attack names."""
    names = [a for a in config["attacks"] if slices.is_adaptive(config, a) == adaptive]
    return "|".join(names) or "(?!)"  # (?!) matches nothing


def attack_params(wildcards):
    return slices.attack_settings(
        as_plain(config),
        wildcards.dataset,
        wildcards.attack,
        float(wildcards.eps),
        wildcards.ae,
        float(wildcards.scale) if "scale" in wildcards.keys() else None,
    )


# Per (cell, attack): the latent scales its evaluations cover, computed once per run.
EVALUATION_SCALES = slices.evaluation_scales(as_plain(config))


def evaluated_scales(wildcards):
    """The scales of one evaluation job: its own for an adaptive attack's set, else every
    scale at which the figures show the cell under that attack."""
    if "scale" in wildcards.keys():
        return [float(wildcards.scale)]
    base = split_replicate(wildcards.ae)[0]
    scales = EVALUATION_SCALES.get((base, wildcards.attack))
    if scales is None:
        if base == slices.UNDEFENDED or base.startswith("ae"):
            return [0.0]  # no latent sampling: one scale
        raise WorkflowError(
            f"no figure evaluates {base} under {wildcards.attack}, so its latent scales are "
            "unknown; ask for a figure or a table instead"
        )
    return scales


def evaluate_params(wildcards):
    return slices.evaluation_settings(
        as_plain(config), wildcards.dataset, wildcards.ae, evaluated_scales(wildcards)
    )


def default_comparisons():
    """The comparison figures that a run without a target builds, and the full table holds."""
    return (
        list(config["comparison_figures"]) if config["run_comparison_figures"] else []
    )


def table_rows(
    figures=slices.ACCURACY_FIGURES, all_reference_cells=True, comparisons=None
):
    """[dataset, cell, attack, eps, scale] of the evaluations a table holds; comparisons None:
    those of the default run."""
    if comparisons is None:
        comparisons = default_comparisons()
    return [
        list(row)
        for row in slices.evaluations(
            as_plain(config), figures, all_reference_cells, comparisons
        )
    ]


def accuracy_files(
    figures=slices.ACCURACY_FIGURES, all_reference_cells=True, comparisons=None
):
    rows = table_rows(figures, all_reference_cells, comparisons)
    files = [
        evaluation_file(d, cell, attack, format_number(eps), format_number(scale))
        for d, cell, attack, eps, scale in rows
    ]
    return list(dict.fromkeys(files))


def figure_selection(figure):
    """The (figures, all_reference_cells, comparisons) whose evaluations one figure shows."""
    if figure in config["comparison_figures"]:
        return (), False, [figure]
    return [figure], False, ()


def figure_accuracy_files(wildcards):
    """Only what one figure shows: `snakemake results/figures/fig3.pdf` builds no more."""
    return accuracy_files(*figure_selection(wildcards.figure))


def figure_table_rows(wildcards):
    return table_rows(*figure_selection(wildcards.figure))


def figure_params(wildcards):
    layout = slices.figure_layout(as_plain(config), wildcards.figure)
    return {
        "layout": layout,
        "grid": as_plain(config["figures"][layout]),
        "attacks": slices.figure_attacks(as_plain(config), wildcards.figure),
        "datasets": list(config["datasets"]),
        "style": slices.figure_style(as_plain(config), wildcards.figure),
    }


def sanity_settings(main_attack):
    return {"main_attack": main_attack, **as_plain(config["sanity"])}


def sanity_params(wildcards):
    return sanity_settings(slices.figure_attacks(as_plain(config), wildcards.figure)[0])


def latent_files():
    attack = config["figure_attack"]
    return [
        f"results/{d}/ae/{cell}/latent/{attack}_eps{format_number(eps)}.csv"
        for d, cell, eps in slices.latent_analyses(as_plain(config))
    ]


def btsc_expected(wildcards):
    """What the BTSC zips must hold; nothing for datasets with published checksums."""
    if wildcards.dataset != "btsc":
        return {}
    return as_plain(config["data"]["btsc"]["expected"])


def download_one(wildcards, output, log, expected):
    """The download rule's body. It reads the source (mirror) from config itself rather
    than through params: a verified file is the same file wherever it came from, so a
    changed mirror must not make anything rebuild."""
    from aedefense.data.download import download_one as fetch_verified

    fetch_verified(
        wildcards.dataset,
        wildcards.filename,
        output,
        log,
        config["mirror"],
        resolve_path(config["checksum_lock"], workflow.basedir),
        config["download"],
        expected,
        list(config["datasets"]),
    )
