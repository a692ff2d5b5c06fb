# Shared by every rule: the library on the path, the validated config, wildcard constraints,
# and the small functions that hand each rule its slice of config.

import sys
from pathlib import Path

# The library lives beside the job scripts: Snakemake puts a script's own directory on
# sys.path, so jobs import it in any environment (conda, container, cluster node) with no
# install step. The Snakefile itself needs it on the path too.
LIBRARY = str(Path(workflow.basedir) / "workflow" / "scripts")
if LIBRARY not in sys.path:
    sys.path.insert(0, LIBRARY)

from aedefense.cells import CELL_REGEX
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
    ae=CELL_REGEX,
    filename="|".join(
        re.escape(entry.name) for d in DATASETS for entry in official_files(d)
    ),


localrules:
    all,
    download,


def raw_files(wildcards):
    """The verified official files of one dataset."""
    return [
        f"resources/{wildcards.dataset}/{entry.name}"
        for entry in official_files(wildcards.dataset)
    ]


def classifier_params(wildcards):
    return slices.classifier_settings(as_plain(config), wildcards.dataset)


def autoencoder_params(wildcards):
    return slices.autoencoder_settings(
        as_plain(config), wildcards.dataset, wildcards.ae
    )


def trained_models():
    """Every classifier and autoencoder of the configured datasets and figures."""
    cells = slices.trained_cells(as_plain(config))
    return [f"results/{d}/classifier.pt" for d in config["datasets"]] + [
        f"results/{d}/ae/{cell.name}/model.pt"
        for d in config["datasets"]
        for cell in cells
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
    )
