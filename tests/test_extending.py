"""docs/extending.md kept true: a new autoencoder family is one record in
aedefense/plan/families.py (plus its architecture and loss where they differ from the AE's or
the VAE's). The test adds a toy family to a copy of the workflow and plans a figure with it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_helpers import scheduled, snakemake_command

pytestmark = pytest.mark.workflow

TOY_RECORD = '        Family("sae", "SAE", variational=False),\n'


def copy_of_the_workflow(repo_root, tmp_path) -> Path:
    copy = tmp_path / "copy"
    for folder in ("workflow", "envs"):
        shutil.copytree(repo_root / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(repo_root / name, copy / name)
    return copy


def workflow_with_a_toy_family(repo_root, tmp_path):
    """A copy of the workflow whose families.py holds one more record, and nothing else changed."""
    copy = copy_of_the_workflow(repo_root, tmp_path)
    families = copy / "workflow" / "scripts" / "aedefense" / "plan" / "families.py"
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


TOY_FORMAT = """
        # a toy format: one .npz of images and labels per split
        FileFormat(
            "npz",
            {"train": ("train.npz",), "test": ("test.npz",)},
            published_checksums=False,
            reader="aedefense.data.npz",
        ),
"""
TOY_DATASET = """
        Dataset("toy", "Toy", 10, (1, 28, 28), 120, "npz", "first", "none", ()),
"""
TOY_READER = '''"""A toy format: images (N, 1, 28, 28) and labels of one split in an .npz file."""
import numpy as np


def _arrays(path):
    with np.load(path) as archive:
        return archive["images"].astype(np.uint8), archive["labels"].astype(np.int64)


def verify_file(path, split, dataset, expected):
    images, labels = _arrays(path)
    if len(images) != expected[f"{split}_images"] or len(labels) != len(images):
        raise ValueError(f"{path}: {len(images)} images, expected {expected[f'{split}_images']}")


def read_split_files(paths, split, dataset, expected, set_aside):
    with set_aside(paths):
        verify_file(paths[0], split, dataset, expected)
        return _arrays(paths[0])
'''


def test_a_new_dataset_format_is_two_files_a_record_and_its_reader(repo_root, tmp_path, fixture_overlay):
    import numpy as np
    import torch
    from fixtures import write_manifest

    copy = copy_of_the_workflow(repo_root, tmp_path)
    library = copy / "workflow" / "scripts" / "aedefense"
    datasets = library / "plan" / "datasets.py"
    text = datasets.read_text()
    for anchor, added in (
        ("\nFORMATS = {\n    record.name: record\n    for record in (\n", TOY_FORMAT),
        ("\nDATASETS = {\n    dataset.name: dataset\n    for dataset in (\n", TOY_DATASET),
    ):
        assert anchor in text
        text = text.replace(anchor, anchor + added.lstrip("\n"))
    datasets.write_text(text)
    (library / "data" / "npz.py").write_text(TOY_READER)

    workdir, overlay = fixture_overlay
    mirror = Path(overlay["mirror"])
    generator = np.random.default_rng(0)
    for split, count in (("train", 120), ("test", 30)):
        (mirror / "toy").mkdir(exist_ok=True)
        images = generator.integers(0, 256, size=(count, 1, 28, 28), dtype=np.uint8)
        np.savez(mirror / "toy" / f"{split}.npz", images=images, labels=np.arange(count) % 10)
    write_manifest(mirror)
    overlay["datasets"] = ["toy"]
    overlay["data"]["toy"] = {**overlay["data"]["mnist"], "expected": {"train_images": 120, "test_images": 30}}
    command = snakemake_command(copy, workdir, overlay, "results/toy/data/test.pt")
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    record = torch.load(workdir / "results" / "toy" / "data" / "test.pt", weights_only=False)
    assert record["dataset"] == "toy" and tuple(record["images"].shape) == (30, 1, 28, 28)
    assert record["labels"].tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    # and a figure of the paper plans on it
    command = snakemake_command(copy, workdir, overlay, "results/figures/fig1.pdf", "-n")
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0 and "results/toy/ae/ae_d1_stp0.2_a0/model.pt" in done.stdout, done.stderr


def test_a_figure_like_the_papers_is_a_record_and_its_grid(repo_root, tmp_path, fixture_overlay):
    copy = copy_of_the_workflow(repo_root, tmp_path)
    records = copy / "workflow" / "scripts" / "aedefense" / "plan" / "paper_figures.py"
    anchor = '        PaperFigure("fig5", LATENT),\n'
    assert anchor in records.read_text()
    toy = '        PaperFigure("fig6", ACCURACY, "alpha", "DAE at stp {stp}, by contractive alpha", True),\n'
    records.write_text(records.read_text().replace(anchor, anchor + toy))
    workdir, overlay = fixture_overlay
    overlay["figures"]["fig6"] = {
        "families": ["ae"],
        "denoising": [1],
        "stp": [0.2],
        "alpha": [0.0, 0.5],
        "scales": [0.0],
    }
    command = snakemake_command(copy, workdir, overlay, "results/figures/fig6.pdf", "-n")
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "results/mnist/ae/ae_d1_stp0.2_a0.5/model.pt" in done.stdout
    assert "results/tables/accuracy_fig6.csv" in done.stdout
