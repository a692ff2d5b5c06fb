"""The workflow end to end on fixture data: snakemake in a scratch directory, no network."""

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import fixtures
import pandas as pd
import pytest
from workflow_helpers import scheduled, snakemake

from aedefense.data.prepared import load_prepared

pytestmark = pytest.mark.workflow


def test_prepares_datasets_from_a_mirror_and_then_has_nothing_to_do(repo_root, fixture_overlay, tmp_path):
    workdir, overlay = fixture_overlay
    prepared = [f"results/{d}/data/{s}.pt" for d in ("mnist", "btsc") for s in ("train", "test")]
    snakemake(repo_root, workdir, overlay, *prepared)
    for dataset, shape in (("mnist", (200, 1, 28, 28)), ("btsc", (124, 3, 32, 32))):
        record = load_prepared(workdir / "results" / dataset / "data" / "train.pt")
        assert tuple(record["images"].shape) == shape
        assert (workdir / "logs" / dataset / "prepare.log").read_text().strip()
    assert "verified" in (workdir / "logs" / "mnist" / "download" / "t10k-images-idx3-ubyte.gz.log").read_text()

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
    result = snakemake(repo_root, workdir, overlay, "results/mnist/data/test.pt", check=False)
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
        "ae_d0_stp0.2_a0",
        "ae_d0_stp0.2_a0.1",
        "ae_d0_stp0_a0",
        "ae_d1_stp0.2_a0",
        "vae_d0_stp0.2_a0",
        "vae_d0_stp0_a0",
        "vae_d1_stp0.2_a0",
    ]
    metrics = json.loads((results / "ae" / "vae_d1_stp0.2_a0" / "metrics.json").read_text())
    assert {"reconstruction_error", "elbo", "kl", "history"} <= set(metrics)
    assert metrics["settings"]["denoising"] is True and metrics["settings"]["stp"] == 0.2
    assert (results / "ae" / "ae_d0_stp0_a0" / "reconstructions.png").stat().st_size > 0
    classifier = json.loads((results / "classifier.metrics.json").read_text())
    assert 0 <= classifier["test_accuracy"] <= 1 and len(classifier["history"]) == 4
    log = (workdir / "logs" / "mnist" / "train_classifier.log").read_text()
    assert "epoch 4/4" in log and "test accuracy" in log

    for name in ("fig1", "fig2", "fig3", "fig4", "fig5", "fig3_eot", "fig1_attacks"):
        for suffix in ("pdf", "png"):
            assert (workdir / "results" / "figures" / f"{name}.{suffix}").stat().st_size > 1000
    # make report: the run's options, no targets; the report opens with what was run and the
    # claims' verdicts, and every caption says n and the config files
    config_file = str(workdir / "test-config.yaml")
    build = [
        sys.executable,
        "-m",
        "aedefense.report.build",
        "--directory",
        str(workdir),
        "-s",
        str(repo_root / "Snakefile"),
    ]
    refused = subprocess.run(
        [*build, "--configfile", config_file, "--config", "mirror=/elsewhere"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert refused.returncode == 2 and "--config mirror: the run used" in refused.stderr
    built = subprocess.run(
        [*build, "--out", str(workdir / "report.html"), "--configfile", config_file],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert built.returncode == 0, built.stderr
    report = (workdir / "report.html").read_text()
    assert "The claims, judged" in report and "latent-diameter" in report
    assert "mnist n = 40" in report and "test-config.yaml" in report
    assert "figure fig3 plots" in report  # a figure's caption, rendered with its wildcards
    # the default run builds no health table, and each figure's caption says so
    assert "Evaluation health: not checked yet; build results/tables/health.csv" in report
    assert "Reconstructions by autoencoder cell vae_d1_stp0.2_a0" in report
    fig3 = pd.read_csv(workdir / "results" / "tables" / "accuracy_fig3.csv")
    assert set(fig3["cell"]) == {"none", "vae_d1_stp0.2_a0"} and set(fig3["scale"]) == {0.0, 1.0, 2.0}
    # One evaluation job per adversarial set covers every scale the figures show the cell at,
    # each point with draws of its own (config.yaml: 20, per_point); a figure keeps only its
    # own scales.
    both = pd.read_csv(results / "ae" / "vae_d1_stp0.2_a0" / "eval" / "cw_eps0.1.csv")
    assert list(both["scale"]) == [1.0, 2.0] and set(both["seed_evaluation"]) == {0}
    assert (both["draws"] == 20).all() and set(both["draw_seeds"]) == {"per_point"}
    assert both["accuracy_mean"].between(0, 1).all()
    # the draw error of the mean: the draws' sample std over sqrt(draws) (accuracy_std is the
    # population std)
    expected_se = both["accuracy_std"] / (both["draws"] - 1) ** 0.5
    assert ((both["accuracy_draw_se"] - expected_se).abs() < 1e-9).all()
    fig2 = pd.read_csv(workdir / "results" / "tables" / "accuracy_fig2.csv")
    assert set(fig2.loc[fig2["cell"] == "vae_d1_stp0.2_a0", "scale"]) == {1.0}
    diameters = pd.read_csv(workdir / "results" / "figures" / "fig5_diameters.csv")
    assert len(diameters) == 6 and (diameters["clean_code_diameter"] > 0).all()

    # The claims the fixture grid can judge (it has stp 0 and 0.2 only, and no stp 0.4 cell),
    # each comparison's numbers those of the figure tables
    claims = pd.read_csv(workdir / "results" / "tables" / "claims.csv")
    verdicts = claims[claims["level"] == "claim"].set_index("claim")["verdict"]
    judged = {"denoising", "stp", "latent-diameter", "latent-diameter-with-stp", "latent-displacement"}
    assert set(verdicts.index) == judged | {"dvae-displacement", "pgd-below-cw"}
    assert set(claims["verdict"]) <= {"holds", "does not hold", "opposite", "cannot tell", "in part"}
    dae = claims[(claims["comparison"] == "DAE against AE at stp 0.2") & (claims["level"] == "comparison")].iloc[0]
    fig1 = pd.read_csv(workdir / "results" / "tables" / "accuracy_fig1.csv")
    cw = fig1[fig1["attack"] == "cw"].set_index(["cell", "eps"])["accuracy_mean"]
    expected = (cw["ae_d1_stp0.2_a0"] - cw["ae_d0_stp0.2_a0"]).mean()
    assert dae["effect"] == pytest.approx(expected) and dae["eps"] == "0.1-0.3" and dae["n_images"] == 40
    assert dae["interval_low"] < dae["effect"] < dae["interval_high"]

    accuracy = pd.read_csv(workdir / "results" / "tables" / "accuracy.csv")
    # (cell, scale) pairs: none, 3 AEs, 1 CAE, 3 VAEs at scale 1, the DVAE at scale 2; each
    # with clean + cw at 2 eps; pgd at 2 eps for none and the reference cell; the adaptive
    # cweot at 2 eps for the DVAE of fig3 at its 2 scales (fig3_eot); the sanity check's
    # cwlong at the middle eps (0.3 of 0.1, 0.3) for every pair; fig1_attacks: pgd on the 2
    # fig1 models that lacked it, bim, deepfool and the worst case on all 4, at 2 eps;
    # fig3_eot: pgd and pgdeot on the DVAE at its 2 scales and 2 eps
    expected_rows = (1 + 3 + 1 + 3 + 1) * 3 + 2 * 2 + 2 * 2 + 9 + (2 + 4 * 3) * 2 + 2 * 2 * 2
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
    assert (sampled["draws"] == 20).all()
    adaptive = accuracy[accuracy["attack"] == "cweot"]
    assert (adaptive["attack_scale"] == adaptive["scale"]).all() and (adaptive["attack_eot_draws"] == 2).all()
    assert accuracy.loc[accuracy["attack"] == "cw", "attack_scale"].isna().all()
    assert sorted(p.name for p in results.glob("ae/vae_d1_stp0.2_a0/adv/cweot_*.pt")) == [
        "cweot_eps0.1_s1.pt",
        "cweot_eps0.1_s2.pt",
        "cweot_eps0.3_s1.pt",
        "cweot_eps0.3_s2.pt",
    ]
    latent = pd.read_csv(workdir / "results" / "tables" / "latent.csv")
    assert len(latent) == 6 and latent["cosine"].between(-1, 1).all()

    worst = accuracy[accuracy["attack"] == "worst"].set_index(["cell", "eps"])
    for attack in ("cw", "pgd", "bim", "deepfool"):  # the worst case is at most every attack
        each = accuracy[(accuracy["attack"] == attack) & (accuracy["scale"] == 0)].set_index(["cell", "eps"])
        assert (worst["accuracy_mean"] <= each.loc[worst.index, "accuracy_mean"]).all()
    assert set(worst["attack_over"]) == {"['cw', 'pgd', 'bim', 'deepfool']"}
    for name in ("", "_fig1", "_fig2", "_fig3", "_fig4", "_fig3_eot", "_fig1_attacks"):
        sanity = pd.read_csv(workdir / "results" / "tables" / f"sanity{name}.csv")
        figure_table = pd.read_csv(workdir / "results" / "tables" / f"accuracy{name}.csv")
        assert {
            "accuracy_does_not_rise_with_eps",
            "undefended_is_broken",
            "longer_attack_does_not_raise_accuracy",
        } == set(sanity["check"])
        flags = [f for text in figure_table["sanity_flags"].fillna("") for f in text.split(";") if f]
        assert len(flags) == (~sanity["passed"]).sum()  # every failed check flags one row
    assert "sanity checks" in report

    # Every compute job timed its phases; the profile reads them and projects a config.
    timings = [json.loads(p.read_text()) for p in (workdir / "logs").rglob("*.timing.json")]
    attacks = [t for t in timings if t["rule"] == "attack"]
    assert len(attacks) == len(list(results.glob("ae/*/adv/*.pt"))) - len(list(results.glob("ae/*/adv/*_s*.pt")))
    assert all(t["compute_s"] > 0 and t["startup_s"] > 0 and t["work"]["amount"] > 0 for t in attacks)
    # the work each job recorded is the work the projection plans for it (aedefense.cost.work)
    from aedefense.cost.projection import load_config, planned_work

    planned_config = load_config([workdir / "test-config.yaml"])
    (classifier,) = [t for t in timings if t["rule"] == "train_classifier"]
    train_images = {"mnist": classifier["work"]["train_images"]}
    for timing in timings:
        if not timing.get("work"):  # a job without a work measure (prepare, tables, figures)
            continue
        _, amount = planned_work(planned_config, timing["rule"], timing["wildcards"], train_images)
        assert amount == timing["work"]["amount"], timing
    profile = subprocess.run(
        [
            sys.executable,
            str(repo_root / "benchmarks" / "profile_run.py"),
            "--directory",
            str(workdir),
            "--plan-configfile",
            str(workdir / "test-config.yaml"),
            "--parallel",
            "2",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = {line.split()[0]: line.split() for line in profile.stdout.splitlines() if line and not line[0].isspace()}
    assert int(rows["attack"][1]) == len(attacks) and rows["attack"][4].endswith("%")
    planned = int(re.search(r"Projection for .*: (\d+) jobs", profile.stdout)[1])
    assert planned == len(timings)  # every job of the fixture grid but downloads, from a dry run
    assert "jobs at once:" in profile.stdout

    # Incremental rebuilds, each a dry run against the complete results above.
    assert scheduled(snakemake(repo_root, workdir, overlay, "-n")) == []
    # where jobs run is no reason to rerun them (a grid moved from a laptop to a cluster)
    assert scheduled(snakemake(repo_root, workdir, {**overlay, "device": "cpu"}, "-n")) == []

    restyled = {**overlay, "figure_style_overrides": {"fig3": {"palette": "magma"}}}
    plan = snakemake(repo_root, workdir, restyled, "-n")
    assert sorted(scheduled(plan)) == ["accuracy_figure", "all"]
    assert "results/figures/fig3.pdf" in plan.stdout

    wider = copy.deepcopy(overlay)
    wider["data"]["mnist"]["eps"] = [0.1, 0.2, 0.3]
    plan = snakemake(repo_root, workdir, wider, "-n")
    # eps 0.2 only: cw on the classifier and the 7 attacked cells, pgd on the classifier and
    # the reference cell, cweot on the DVAE at its 2 scales; the sanity check's cwlong moves to
    # the new middle eps 0.2 (8 models, 9 pairs); their evaluations (the DVAE at 2 scales);
    # the tables and figures that read them. No training, no other eps, no latent analysis
    # (it is at latent_eps).
    # fig1_attacks: pgd on 2 more models, bim and deepfool on 4, and their 4 worst cases.
    # fig3_eot: pgd on the DVAE, pgdeot at its 2 scales, and their evaluations.
    # One evaluation per adversarial set, at all its scales: cw 8 (the DVAE's covers its 2
    # scales), pgd 2, cwlong 8, fig1_attacks 14, the DVAE's pgd 1; per scale for the adaptive
    # sets: cweot 2, pgdeot 2.
    assert sorted(scheduled(plan)) == sorted(
        ["all", "accuracy_table", "claims"]
        + ["attack"] * (10 + 8 + 10 + 1)
        + ["attack_adaptive"] * (2 + 2)
        + ["evaluate"] * (8 + 2 + 8 + 14 + 1)
        + ["evaluate_adaptive"] * (2 + 2)
        + ["figure_table", "accuracy_figure"] * 6
    )
    assert not re.search(r"_eps0\.[13]", "".join(re.findall(r"output: .*", plan.stdout)))

    overlay["cell_overrides"] = {"mnist/ae_d0_stp0.2_a0": {"epochs": 2}}
    plan = snakemake(repo_root, workdir, overlay, "-n")
    jobs = scheduled(plan)
    # that cell's training, its 9 attacks (cw, pgd, bim, deepfool at 2 eps, cwlong at 1), its
    # 12 evaluations (those, clean and the worst case at 2 eps), its latent analysis, the two
    # tables, and the figures that show it (1, 4, 5 and fig1_attacks): nothing else
    assert sorted(jobs) == sorted(
        ["all", "train_autoencoder", "latent", "accuracy_table", "latent_table", "latent_figure", "claims"]
        + ["attack"] * 9
        + ["evaluate"] * 12
        + ["figure_table", "accuracy_figure"] * 3
    )
    assert "results/figures/fig1.pdf" in plan.stdout and "results/figures/fig4.pdf" in plan.stdout
    assert "results/mnist/ae/ae_d0_stp0.2_a0/model.pt" in plan.stdout


def test_jobs_in_pieces_or_folded_make_the_sets_and_accuracies_of_the_trained_model(repo_root, fixture_overlay):
    """Two machine settings of attack and evaluation jobs on a CPU, neither a reason to rerun.
    cpu_forward_batch: forwards in pieces (16 of the 40 attacked images here) give the whole
    batches' adversarial set and accuracies exactly, a sampling VAE's at scales 1 and 2 among
    them. fast_forward: the classifier folded gives accuracies within one image of 40 of the
    models as trained (config.yaml's stated tolerance: float rounding)."""
    from aedefense.jobs.adversarial import load_adversarial_set

    workdir, overlay = fixture_overlay
    cell = workdir / "results" / "mnist" / "ae" / "vae_d1_stp0.2_a0"
    targets = ["results/mnist/ae/vae_d1_stp0.2_a0/eval/cw_eps0.1.csv"]
    made = {}
    for pieces, fast in ((16, True), (None, True), (16, False)):
        overlay.update(device="cpu", cpu_forward_batch=pieces, fast_forward=fast)
        if made:
            assert scheduled(snakemake(repo_root, workdir, overlay, "-n", *targets)) == []
        snakemake(repo_root, workdir, overlay, *targets, "--forcerun", "attack", "evaluate")
        log_dir = workdir / "logs" / "mnist" / "ae" / "vae_d1_stp0.2_a0" / "attack"
        log = (log_dir / "cw_eps0.1.log").read_text()
        assert ("forwards in pieces of 16 images" in log) == (pieces == 16)
        assert ("the classifier folded" in log) == fast
        timing = json.loads((log_dir / "cw_eps0.1.timing.json").read_text())
        assert timing["machine"] == {"fast_forward": fast, "cpu_forward_batch": pieces or 0}
        table = pd.read_csv(cell / "eval" / "cw_eps0.1.csv")
        made[pieces, fast] = (load_adversarial_set(cell / "adv" / "cw_eps0.1.pt")["adversarial"], table)
    (in_pieces, table), (whole, whole_table) = made[16, True], made[None, True]
    assert sorted(table["scale"]) == [1.0, 2.0] and (table["draws"] > 1).all()
    assert (in_pieces - whole).abs().max() == 0
    columns = ["scale", "accuracy_mean", "accuracy_std", "n_images", "images_correct"]  # per image too
    pd.testing.assert_frame_equal(table[columns], whole_table[columns])
    as_trained = made[16, False][1]
    assert (as_trained["n_images"] == 40).all()
    assert (table["accuracy_mean"] - as_trained["accuracy_mean"]).abs().max() <= 1 / 40 + 1e-9


def test_a_cell_trained_under_another_name_is_refused(repo_root, fixture_overlay):
    workdir, overlay = fixture_overlay
    result = snakemake(
        repo_root,
        workdir,
        overlay,
        "-n",
        "results/mnist/ae/vae_d1_stp0_a0/model.pt",
        check=False,
    )
    assert result.returncode != 0
    # where Snakemake prints an error raised in an input function varies between runs: read both
    assert "its model is vae_d0_stp0_a0" in result.stdout + result.stderr


def test_one_figure_builds_only_what_it_shows(repo_root, fixture_overlay):
    workdir, overlay = fixture_overlay
    plan = snakemake(repo_root, workdir, overlay, "-n", "results/figures/fig3.pdf")
    jobs = scheduled(plan)
    # fig3 shows one DVAE at two latent scales next to the undefended classifier: one
    # autoencoder; cw at 2 eps on both models and the pgd reference on the classifier, and the
    # sanity check's cwlong on both; the DVAE's clean + 2 eps + cwlong, each one job for both
    # scales, and the classifier's clean + 2 cw + 2 pgd + cwlong
    assert jobs.count("train_autoencoder") == 1 and "results/mnist/ae/vae_d1_stp0.2_a0/model.pt" in plan.stdout
    assert jobs.count("attack") == 6 + 2 and jobs.count("evaluate") == 4 + 6
    assert jobs.count("figure_table") == 1 and jobs.count("accuracy_figure") == 1
    assert not {"latent", "latent_table", "accuracy_table", "latent_figure", "attack_adaptive"} & set(jobs)

    plan = snakemake(repo_root, workdir, overlay, "-n", "results/figures/fig3_eot.pdf")
    jobs = scheduled(plan)
    # fig3's models under cw and pgd at 2 eps (+ cwlong), and the adaptive cweot and pgdeot
    # on the DVAE at each of its 2 scales and 2 eps; evaluations: the classifier clean + 2 cw
    # + 2 pgd, the DVAE's clean + 2 cw + 2 pgd (each one job for both scales), cwlong on both
    # models, and cweot and pgdeot per scale (2 scales x 2 eps each)
    assert jobs.count("train_autoencoder") == 1 and jobs.count("attack") == 8 + 2
    assert jobs.count("attack_adaptive") == 8 and jobs.count("evaluate") == 5 + 5 + 2
    assert jobs.count("evaluate_adaptive") == 8
    assert "results/mnist/ae/vae_d1_stp0.2_a0/adv/cweot_eps0.3_s2.pt" in plan.stdout


def test_several_training_seeds_give_one_row_per_seed_and_a_figure_of_their_mean(repo_root, fixture_overlay):
    workdir, overlay = fixture_overlay
    overlay["training_seeds"] = 2
    overlay["sanity"] = {"longer_attack": None}  # not what this test is about
    snakemake(repo_root, workdir, overlay, "results/figures/fig3.pdf")
    results = workdir / "results" / "mnist"
    assert (results / "classifier_r1.pt").exists() and (results / "ae" / "vae_d1_stp0.2_a0_r1" / "model.pt").exists()
    first = json.loads((results / "classifier.metrics.json").read_text())
    second = json.loads((results / "classifier_r1.metrics.json").read_text())
    assert (first["settings"]["seed"], second["settings"]["seed"]) == (0, 1)

    def losses(metrics, key="loss"):  # not the whole history: its timings differ between any two runs
        return [epoch[key] for epoch in metrics["history"]]

    assert losses(first, "train_loss") != losses(second, "train_loss")  # another seed, another training run
    ae_first, ae_second = (
        json.loads((results / "ae" / name / "metrics.json").read_text())
        for name in ("vae_d1_stp0.2_a0", "vae_d1_stp0.2_a0_r1")
    )
    assert (ae_first["settings"]["seed"], ae_second["settings"]["seed"]) == (0, 1) and losses(ae_first) != losses(
        ae_second
    )
    fig3 = pd.read_csv(workdir / "results" / "tables" / "accuracy_fig3.csv")
    per_seed = fig3.groupby(["cell", "attack", "eps", "scale"])["replicate"].apply(sorted)
    assert (per_seed.apply(lambda seeds: seeds == [0, 1])).all()
    assert set(fig3.loc[fig3["replicate"] == 1, "seed_autoencoder"].dropna()) == {1}
    assert set(fig3["cell"]) == {"none", "vae_d1_stp0.2_a0"}  # the seed is a column, not a cell
    assert (workdir / "results" / "figures" / "fig3.png").stat().st_size > 1000
