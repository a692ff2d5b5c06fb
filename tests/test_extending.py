"""docs/extending.md kept true: a new autoencoder family is one record in
aedefense/core/families.py (plus its architecture and loss where they differ from the AE's or
the VAE's). The test adds a toy family to a copy of the workflow and plans a figure with it."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from workflow_helpers import scheduled, snakemake_command

pytestmark = pytest.mark.workflow

TOY_RECORD = '        Family("sae", "SAE", variational=False),\n'


def workflow_with_a_toy_family(repo_root, tmp_path):
    """A copy of the workflow whose families.py holds one more record, and nothing else changed."""
    copy = tmp_path / "copy"
    shutil.copytree(repo_root / "workflow", copy / "workflow", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(repo_root / name, copy / name)
    families = copy / "workflow" / "scripts" / "aedefense" / "core" / "families.py"
    anchor = '        Family("ae", "AE", variational=False),\n'
    assert anchor in families.read_text()
    families.write_text(families.read_text().replace(anchor, anchor + TOY_RECORD))
    return copy


def test_a_new_family_is_one_record_for_the_plan_the_config_check_and_the_figures(repo_root, tmp_path, fixture_overlay):
    copy = workflow_with_a_toy_family(repo_root, tmp_path)
    workdir, overlay = fixture_overlay
    overlay["figures"]["fig1"]["families"] = ["ae", "sae"]
    overlay["cell_overrides"] = {"mnist/sae_d1_stp0.2_a0": {"epochs": 2}}  # the schema's cell patterns
    command = snakemake_command(copy, workdir, overlay, "results/figures/fig1.pdf", "-n")
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    planned = done.stdout
    assert scheduled(done).count("train_autoencoder") == 6  # ae and sae: d0 stp 0, d0/d1 stp 0.2
    for cell in ("sae_d0_stp0_a0", "sae_d0_stp0.2_a0", "sae_d1_stp0.2_a0"):
        assert f"results/mnist/ae/{cell}/model.pt" in planned
    # its model, loss and figure label come from the record: an AE-like family trains as an AE
    check = (
        "from aedefense.core.models import build_autoencoder\n"
        "from aedefense.jobs.training import autoencoder_loss\n"
        "from aedefense.report.figures import defence_label\n"
        "import torch\n"
        "model = build_autoencoder((1, 28, 28), 'sae', {'channels': 4, 'latent_dim': 8})\n"
        "x = torch.rand(2, 1, 28, 28)\n"
        "loss, terms = autoencoder_loss(model, x, x, kl_scale=1.0)\n"
        "print(model.variational, sorted(terms), defence_label('sae_d1_stp0.2_a0', 0.0))\n"
    )
    library = copy / "workflow" / "scripts"
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(library)!r})\n" + check],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False ['reconstruction'] DSAE stp 0.2"


def test_a_family_without_a_record_is_refused_with_the_families_there_are(repo_root, base_config):
    from aedefense.plan.config import ConfigError, validate_config

    base_config["figures"]["fig1"]["families"] = ["ae", "sae"]
    with pytest.raises(ConfigError, match=r"figures.fig1.families\[1\].*'ae', 'vae'"):
        validate_config(base_config, repo_root / "workflow" / "schemas" / "config.schema.yaml")
