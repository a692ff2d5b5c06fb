"""The workflow end to end on fixture data: snakemake in a scratch directory, no network."""

import copy
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

import fixtures
from workflow_helpers import scheduled, snakemake
from aedefense.data.prepared import load_prepared

pytestmark = pytest.mark.workflow


def test_prepares_datasets_from_a_mirror_and_then_has_nothing_to_do(
    repo_root, fixture_overlay, tmp_path
):
    workdir, overlay = fixture_overlay
    prepared = [f"results/{d}/data/{s}.pt" for d in ("mnist", "btsc") for s in ("train", "test")]
    snakemake(repo_root, workdir, overlay, *prepared)
    for dataset, shape in (("mnist", (200, 1, 28, 28)), ("btsc", (124, 3, 32, 32))):
        record = load_prepared(workdir / "results" / dataset / "data" / "train.pt")
        assert tuple(record["images"].shape) == shape
        assert (workdir / "logs" / dataset / "prepare.log").read_text().strip()
    assert "verified" in (
        workdir / "logs" / "mnist" / "download" / "t10k-images-idx3-ubyte.gz.log"
    ).read_text()

    again = snakemake(repo_root, workdir, overlay, "-n", *prepared)
    assert "Nothing to be done" in again.stdout + again.stderr

    # Where the verified files came from does not matter: a new mirror rebuilds nothing.
    moved = tmp_path / "moved-mirror"
    shutil.copytree(overlay["mirror"], moved)
    overlay["mirror"] = moved.as_uri()
    again = snakemake(repo_root, workdir, overlay, "-n", *prepared)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_bad_config_stops_before_any_job(repo_root, fixture_overlay):
    workdir, overlay = fixture_overlay
    overlay["autoencoder"] = {"epoch": 3}
    overlay["figures"] = {"fig1": {"stp": [-0.1]}}
    result = snakemake(repo_root, workdir, overlay, check=False)
    assert result.returncode != 0
    assert "unknown key 'autoencoder.epoch'" in result.stderr
    assert "figures.fig1.stp[0]: -0.1 is not allowed" in result.stderr
    assert not (workdir / "resources").exists() and not (workdir / "results").exists()


def test_corrupt_download_fails_clearly_and_leaves_nothing(repo_root, fixture_overlay):
    workdir, overlay = fixture_overlay
    manifest = fixtures.write_manifest(Path(overlay["mirror"]))
    target = "mnist/train-labels-idx1-ubyte.gz"
    manifest.write_text(
        "".join(
            ("0" * 32 + f"  {target}\n") if line.endswith(target) else line + "\n"
            for line in manifest.read_text().splitlines()
        )
    )
    result = snakemake(
        repo_root, workdir, overlay, "results/mnist/data/test.pt", check=False
    )
    assert result.returncode != 0
    log = (workdir / "logs" / "mnist" / "download" / "train-labels-idx1-ubyte.gz.log").read_text()
    assert "checksum mismatch" in result.stderr + log
    assert "--config mirror=" in result.stderr
    assert not (workdir / "resources" / target).exists()
    assert not (workdir / "results" / "mnist" / "data" / "test.pt").exists()


def test_the_whole_grid_then_incremental_rebuilds(repo_root, fixture_overlay):
    workdir, overlay = fixture_overlay
    snakemake(repo_root, workdir, overlay)
    results = workdir / "results" / "mnist"
    models = sorted(p.parent.name for p in results.glob("ae/*/model.pt"))
    assert models == [
        "ae_d0_stp0.2_a0", "ae_d0_stp0.2_a0.1", "ae_d0_stp0_a0", "ae_d1_stp0.2_a0",
        "vae_d0_stp0.2_a0", "vae_d0_stp0_a0", "vae_d1_stp0.2_a0",
    ]  # fmt: skip
    metrics = json.loads((results / "ae" / "vae_d1_stp0.2_a0" / "metrics.json").read_text())
    assert {"reconstruction_error", "elbo", "kl", "history"} <= set(metrics)
    assert metrics["settings"]["denoising"] is True and metrics["settings"]["stp"] == 0.2
    assert (results / "ae" / "ae_d0_stp0_a0" / "reconstructions.png").stat().st_size > 0
    classifier = json.loads((results / "classifier.metrics.json").read_text())
    assert 0 <= classifier["test_accuracy"] <= 1 and len(classifier["history"]) == 4
    log = (workdir / "logs" / "mnist" / "train_classifier.log").read_text()
    assert "epoch 4/4" in log and "test accuracy" in log

    for name in ("fig1", "fig2", "fig3", "fig4", "fig5", "fig3_eot"):
        for suffix in ("pdf", "png"):
            assert (workdir / "results" / "figures" / f"{name}.{suffix}").stat().st_size > 1000
    snakemake(repo_root, workdir, overlay, "--report", str(workdir / "report.html"))
    report = (workdir / "report.html").read_text()
    assert "figure fig3 plots" in report  # a figure's caption, rendered with its wildcards
    assert "Reconstructions by autoencoder cell vae_d1_stp0.2_a0" in report
    fig3 = pd.read_csv(workdir / "results" / "tables" / "accuracy_fig3.csv")
    assert set(fig3["cell"]) == {"none", "vae_d1_stp0.2_a0"} and set(fig3["scale"]) == {0.0, 1.0, 2.0}
    diameters = pd.read_csv(workdir / "results" / "figures" / "fig5_diameters.csv")
    assert len(diameters) == 6 and (diameters["clean_code_diameter"] > 0).all()

    accuracy = pd.read_csv(workdir / "results" / "tables" / "accuracy.csv")
    # (cell, scale) pairs: none, 3 AEs, 1 CAE, 3 VAEs at scale 1, the DVAE at scale 2; each
    # with clean + cw at 2 eps; pgd at 2 eps for none and the reference cell; the adaptive
    # cweot at 2 eps for the DVAE of fig3 at its 2 scales (fig3_eot)
    expected_rows = (1 + 3 + 1 + 3 + 1) * 3 + 2 * 2 + 2 * 2
    assert len(accuracy) == expected_rows
    assert accuracy[["dataset", "cell", "attack", "eps", "scale"]].duplicated().sum() == 0
    assert (accuracy["n_images"] == 40).all() and accuracy["seed_classifier"].notna().all()
    undefended = accuracy[accuracy["cell"] == "none"].set_index(["attack", "eps"])
    clean = undefended.loc[("clean", 0.0), "accuracy_mean"]
    assert clean > 0.8  # the fixture classifier learned its classes
    assert undefended.loc[("pgd", 0.3), "accuracy_mean"] < clean - 0.3
    attacked = accuracy[accuracy["attack"] != "clean"]
    assert (attacked["max_linf"] <= attacked["eps"] + 1e-6).all() and (attacked["max_linf"] > 0).all()
    assert (accuracy["accuracy_ci_low"] <= accuracy["accuracy_mean"]).all()
    assert (accuracy["accuracy_mean"] <= accuracy["accuracy_ci_high"]).all()
    assert (accuracy["accuracy_ci_high"] - accuracy["accuracy_ci_low"] > 0.08).all()  # 40 images: wide
    sampled = accuracy[(accuracy["family"] == "vae") & (accuracy["scale"] > 0)]
    assert (sampled["draws"] == 10).all()
    adaptive = accuracy[accuracy["attack"] == "cweot"]
    assert (adaptive["attack_scale"] == adaptive["scale"]).all() and (adaptive["attack_eot_draws"] == 2).all()
    assert accuracy.loc[accuracy["attack"] == "cw", "attack_scale"].isna().all()
    assert sorted(p.name for p in results.glob("ae/vae_d1_stp0.2_a0/adv/cweot_*")) == [
        "cweot_eps0.1_s1.pt", "cweot_eps0.1_s2.pt", "cweot_eps0.3_s1.pt", "cweot_eps0.3_s2.pt",
    ]  # fmt: skip
    latent = pd.read_csv(workdir / "results" / "tables" / "latent.csv")
    assert len(latent) == 6 and latent["cosine"].between(-1, 1).all()

    # Incremental rebuilds, each a dry run against the complete results above.
    assert scheduled(snakemake(repo_root, workdir, overlay, "-n")) == []

    restyled = {**overlay, "figure_style_overrides": {"fig3": {"palette": "magma"}}}
    plan = snakemake(repo_root, workdir, restyled, "-n")
    assert sorted(scheduled(plan)) == ["accuracy_figure", "all"]
    assert "results/figures/fig3.pdf" in plan.stdout

    wider = copy.deepcopy(overlay)
    wider["data"]["mnist"]["eps"] = [0.1, 0.2, 0.3]
    plan = snakemake(repo_root, workdir, wider, "-n")
    # eps 0.2 only: cw on the classifier and the 7 attacked cells, pgd on the classifier and
    # the reference cell, cweot on the DVAE at its 2 scales; their evaluations (the DVAE at 2
    # scales); the tables and figures that read them. No training, no other eps, no latent
    # analysis (it is at latent_eps).
    assert sorted(scheduled(plan)) == sorted(
        ["all", "accuracy_table"] + ["attack"] * 10 + ["attack_adaptive"] * 2 + ["evaluate"] * 13
        + ["figure_table", "accuracy_figure"] * 5
    )  # fmt: skip
    assert not re.search(r"_eps0\.[13]", "".join(re.findall(r"output: .*", plan.stdout)))

    overlay["cell_overrides"] = {"mnist/ae_d0_stp0.2_a0": {"epochs": 2}}
    plan = snakemake(repo_root, workdir, overlay, "-n")
    jobs = scheduled(plan)
    # that cell's training, its 4 attacks (cw, pgd at 2 eps), its 5 evaluations, its latent
    # analysis, the two tables, and the figures that show it (1, 4 and 5): nothing else
    assert sorted(jobs) == sorted(
        ["all", "train_autoencoder", "latent", "accuracy_table", "latent_table", "latent_figure"]
        + ["attack"] * 4 + ["evaluate"] * 5 + ["figure_table", "accuracy_figure"] * 2
    )  # fmt: skip
    assert "results/figures/fig1.pdf" in plan.stdout and "results/figures/fig4.pdf" in plan.stdout
    assert "results/mnist/ae/ae_d0_stp0.2_a0/model.pt" in plan.stdout


def test_a_cell_trained_under_another_name_is_refused(repo_root, fixture_overlay):
    workdir, overlay = fixture_overlay
    result = snakemake(
        repo_root, workdir, overlay, "-n", "results/mnist/ae/vae_d1_stp0_a0/model.pt",
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    # where Snakemake prints an error raised in an input function varies between runs: read both
    assert "its model is vae_d0_stp0_a0" in result.stdout + result.stderr


def test_one_figure_builds_only_what_it_shows(repo_root, fixture_overlay):
    workdir, overlay = fixture_overlay
    plan = snakemake(repo_root, workdir, overlay, "-n", "results/figures/fig3.pdf")
    jobs = scheduled(plan)
    # fig3 shows one DVAE at two latent scales next to the undefended classifier: one
    # autoencoder; cw at 2 eps on both models and the pgd reference on the classifier; the
    # DVAE's clean + 2 eps at each scale and the classifier's clean + 2 cw + 2 pgd
    assert jobs.count("train_autoencoder") == 1 and "results/mnist/ae/vae_d1_stp0.2_a0/model.pt" in plan.stdout
    assert jobs.count("attack") == 6 and jobs.count("evaluate") == 6 + 5
    assert jobs.count("figure_table") == 1 and jobs.count("accuracy_figure") == 1
    assert not {"latent", "latent_table", "accuracy_table", "latent_figure", "attack_adaptive"} & set(jobs)

    plan = snakemake(repo_root, workdir, overlay, "-n", "results/figures/fig3_eot.pdf")
    jobs = scheduled(plan)
    # fig3's models and plain attacks, and the adaptive cweot on the DVAE at each of its 2
    # scales and 2 eps; evaluations: the classifier clean + 2 cw, the DVAE at 2 scales clean
    # + 2 cw + 2 cweot
    assert jobs.count("train_autoencoder") == 1 and jobs.count("attack") == 4
    assert jobs.count("attack_adaptive") == 4 and jobs.count("evaluate") == 3 + 2 * 5
    assert "results/mnist/ae/vae_d1_stp0.2_a0/adv/cweot_eps0.3_s2.pt" in plan.stdout
