"""Which jobs a config plans (plan/grid.py) and each job's slice of it (params.py)."""

import copy

import pytest

from aedefense.plan import grid, params
from aedefense.plan.grid import trained_cells
from aedefense.plan.params import autoencoder_settings, classifier_settings


def test_an_adaptive_attack_is_keyed_by_scale_and_samples_only_where_the_defence_does(base_config):
    vae = params.attack_settings(base_config, "mnist", "cweot", 0.1, "vae_d1_stp0.4_a0", 2.0)
    assert vae["scale"] == 2.0 and vae["eot_draws"] == base_config["attacks"]["cweot"]["eot_draws"]
    assert vae["seed"] == base_config["seeds"]["attack"]  # the latent draws are seeded
    for cell, scale in (("vae_d1_stp0.4_a0", 0.0), ("ae_d1_stp0.4_a0", 0.0), ("none", 0.0)):
        deterministic = params.attack_settings(base_config, "mnist", "cweot", 0.1, cell, scale)
        assert deterministic["eot_draws"] == 1 and "seed" not in deterministic


def test_the_plain_attack_settings_do_not_change(base_config):
    """The paper's attack: no scale, no draws, no seed (CW is deterministic), whatever cell."""
    plain = params.attack_settings(base_config, "mnist", "cw", 0.1, "vae_d1_stp0.4_a0", None)
    assert plain == {**base_config["attacks"]["cw"], "name": "cw", "eps": 0.1, "images": 1000}


def test_a_comparison_figure_evaluates_its_cells_under_each_attack(base_config):
    rows = grid.evaluations(base_config, (), False, ["fig3_eot"])
    eps = [float(e) for e in base_config["data"]["mnist"]["eps"]]
    mnist = [r for r in rows if r[0] == "mnist"]
    scales = base_config["figures"]["fig3"]["scales"]
    cells = {"vae_d0_stp0.4_a0", "vae_d1_stp0.4_a0"}
    expected = {("mnist", "none", "clean", 0.0, 0.0), ("mnist", "none", "cwlong", 0.2, 0.0)}
    # not cweot or pgdeot: on a model that does not sample they are cw and pgd
    expected |= {("mnist", "none", attack, e, 0.0) for attack in ("cw", "pgd") for e in eps}
    for cell in cells:
        for scale in scales:
            expected.add(("mnist", cell, "clean", 0.0, scale))
            expected.add(("mnist", cell, "cwlong", 0.2, scale))  # the sanity check, mid-grid
            expected |= {("mnist", cell, attack, e, scale) for attack in ("cw", "cweot", "pgd", "pgdeot") for e in eps}
    assert set(mnist) == expected
    assert grid.figure_attacks(base_config, "fig3_eot") == ["cw", "cweot", "pgd", "pgdeot"]
    assert grid.figure_layouts(base_config, "fig3_eot") == ["fig3"]
    assert grid.figure_attacks(base_config, "fig3") == ["cw", "pgd"]


def test_a_figure_over_cell_families_evaluates_the_cells_of_each_of_its_paper_figures(base_config):
    assert grid.figure_layouts(base_config, "suite") == ["fig1", "fig2", "fig4"]
    rows = {r for r in grid.evaluations(base_config, (), False, ["suite"]) if r[0] == "mnist"}
    eps = [float(e) for e in base_config["data"]["mnist"]["eps"]]
    pairs = set()
    for figure in ("fig1", "fig2", "fig4"):
        pairs |= {(c.canonical().name, s) for c, s in grid.grid_points(base_config["figures"][figure])}
    assert {c.split("_")[0] for c, _ in pairs} == {"ae", "vae"} and {s for _, s in pairs} == {0.0, 1.0}
    for cell, scale in pairs:
        assert {("mnist", cell, a, e, scale) for a in ("cw", "pgd", "suite") for e in eps} <= rows
    # the undefended classifier under all three: the suite runs its standard protocol there
    assert {("mnist", "none", a, e, 0.0) for a in ("cw", "pgd", "suite") for e in eps} <= rows
    assert {r[1] for r in rows} == {"none"} | {cell for cell, _ in pairs}


def test_the_paper_figures_do_not_include_the_comparisons(base_config):
    paper = grid.evaluations(base_config, ["fig3"], False, ())
    assert not [r for r in paper if r[2] == "cweot"]
    assert [r for r in grid.evaluations(base_config) if r[2] == "cweot"]


def test_the_longer_attack_runs_mid_grid_on_what_a_figure_shows_or_not_at_all(base_config):
    assert grid.sanity_eps(base_config, "mnist") == 0.2  # of 0.05 ... 0.3
    assert grid.sanity_eps(base_config, "btsc") == 0.02
    fig1 = grid.evaluations(base_config, ["fig1"], False, ())
    longer = {r for r in fig1 if r[2] == "cwlong"}
    # per dataset: the undefended classifier and fig1's 9 trained AEs (d1 at stp 0 is d0)
    assert len(longer) == 3 * (1 + 9) and {r[3] for r in longer} == {0.2, 0.02}
    base_config["sanity"]["longer_attack"] = None
    assert not [r for r in grid.evaluations(base_config) if r[2] == "cwlong"]


def test_each_training_seed_is_its_own_model_with_its_own_seeds(base_config):
    from aedefense.plan.cells import replicate_name, split_replicate

    assert split_replicate("vae_d1_stp0.4_a0_r2") == ("vae_d1_stp0.4_a0", 2)
    assert split_replicate("none") == ("none", 0) and replicate_name("none", 3) == "none_r3"
    assert replicate_name("vae_d1_stp0.4_a0", 0) == "vae_d1_stp0.4_a0"
    base_config["seeds"].update(classifier=5, autoencoder=7)
    base_config["cell_overrides"] = {"mnist/vae_d1_stp0.4_a0": {"epochs": 2}}
    assert params.classifier_settings(base_config, "mnist", 2)["seed"] == 7
    second = params.autoencoder_settings(base_config, "mnist", "vae_d1_stp0.4_a0_r1")
    assert second["seed"] == 8 and second["epochs"] == 2  # the cell's override holds for every seed
    assert grid.classifier_name(0) == "classifier" and grid.classifier_name(1) == "classifier_r1"


def test_training_seeds_repeat_every_evaluation_per_seed(base_config):
    one = grid.evaluations(base_config, ["fig3"], False, ())
    base_config["training_seeds"] = 3
    three = grid.evaluations(base_config, ["fig3"], False, ())
    assert len(three) == 3 * len(one)
    assert {r[1] for r in three} == {c + s for c in {r[1] for r in one} for s in ("", "_r1", "_r2")}


def test_a_declared_subset_of_cells_gets_more_training_seeds(base_config):
    """training_seeds_cells: three seeds of one Fig. 1 cell; every other cell keeps one, the
    undefended classifier gets three (seed r of the cell stands in front of classifier r)."""
    from aedefense.plan.config import rule_errors

    base_config["training_seeds_cells"] = {"ae_d1_stp0.4_a0": 3}
    rows = grid.evaluations(base_config, ["fig1"], False, ())
    names = {r[1] for r in rows}
    assert {"ae_d1_stp0.4_a0_r1", "ae_d1_stp0.4_a0_r2", "none_r1", "none_r2"} <= names
    assert "ae_d0_stp0.4_a0_r1" not in names and "ae_d1_stp0.2_a0_r1" not in names
    cw = [r for r in rows if r[1].startswith("ae_d1_stp0.4_a0") and r[2] == "cw"]
    assert len(cw) == 3 * len(base_config["data"]["mnist"]["eps"]) * len(base_config["datasets"])
    assert grid.classifier_seeds(base_config) == 3
    assert grid.target_problems(base_config, "mnist", "ae_d1_stp0.4_a0_r2") == []
    assert "has 1" in grid.target_problems(base_config, "mnist", "ae_d0_stp0.4_a0_r1")[0]
    assert grid.target_problems(base_config, "mnist", "classifier_r2") == []
    assert rule_errors(base_config) == []
    base_config["training_seeds_cells"] = {"ae_d1_stp0_a0": 3, "ae_d0_stp0.15_a0": 2}
    errors = rule_errors(base_config)
    assert any("trained once as ae_d0_stp0_a0; name that one instead" in e for e in errors)
    assert any("training_seeds_cells.ae_d0_stp0.15_a0: no figure trains ae_d0_stp0.15_a0" in e for e in errors)


def test_an_evaluation_job_covers_the_scales_its_figures_show_and_a_vae_outside_them_fails(base_config):
    scales = grid.evaluation_scales(base_config)
    fig3 = [float(s) for s in base_config["figures"]["fig3"]["scales"]]
    assert grid.evaluation_job_scales(scales, "vae_d1_stp0.4_a0", "cw") == fig3
    assert grid.evaluation_job_scales(scales, "vae_d1_stp0.4_a0_r1", "cw") == fig3  # any training seed
    assert grid.evaluation_job_scales(scales, "vae_d1_stp0.4_a0", "cweot", "2") == [2.0]  # an adaptive set's own
    # no figure shows these under bim: a deterministic defence has one scale, a VAE none to assume
    assert grid.evaluation_job_scales(scales, "ae_d1_stp0.4_a0", "bim") == [0.0]
    assert grid.evaluation_job_scales(scales, "none_r2", "bim") == [0.0]
    with pytest.raises(ValueError, match="no figure evaluates vae_d1_stp0.4_a0 under bim"):
        grid.evaluation_job_scales(scales, "vae_d1_stp0.4_a0", "bim")


def test_settings_slices_carry_only_what_the_cell_depends_on(base_config):
    config = copy.deepcopy(base_config)
    config["cell_overrides"] = {"mnist/vae_d1_stp0.4_a0": {"epochs": 60}}
    config["data"]["mnist"]["autoencoder"] = {"epochs": 12, "lr": 0.5}
    # a cell override beats the dataset's settings, which beat `autoencoder`
    assert autoencoder_settings(config, "mnist", "vae_d1_stp0.4_a0")["epochs"] == 60
    assert autoencoder_settings(config, "mnist", "vae_d1_stp0.4_a0")["lr"] == 0.5
    assert autoencoder_settings(config, "fashion-mnist", "vae_d1_stp0.4_a0")["epochs"] == 30
    assert autoencoder_settings(config, "mnist", "vae_d0_stp0.4_a0")["epochs"] == 12
    ae = autoencoder_settings(config, "mnist", "ae_d0_stp0.1_a0")
    assert "vae_likelihood" not in ae and "contractive" not in ae
    cae = autoencoder_settings(config, "mnist", "ae_d0_stp0.1_a0.01")
    assert cae["contractive"] == "projection"
    assert cae["contractive_projections"] == config["autoencoder"]["contractive_projections"]
    config["autoencoder"]["contractive"] = "exact"  # one Jacobian, no projections to depend on
    assert "contractive_projections" not in autoencoder_settings(config, "mnist", "ae_d0_stp0.1_a0.01")
    with pytest.raises(ValueError, match="its model is vae_d0_stp0_a0"):
        autoencoder_settings(config, "mnist", "vae_d1_stp0_a0")
    assert classifier_settings(config, "btsc")["epochs"] == config["data"]["btsc"]["classifier_epochs"]


def test_the_paper_grid_trains_each_model_once(base_config):
    cells = trained_cells(base_config)
    names = [cell.name for cell in cells]
    assert len(names) == len(set(names)) == 26
    assert "ae_d1_stp0_a0" not in names and "ae_d0_stp0_a0" in names
    assert sum(cell.alpha > 0 for cell in cells) == 8
