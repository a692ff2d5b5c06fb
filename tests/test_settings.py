"""Each job's slice of the config: what an adaptive attack and a comparison figure schedule."""

from aedefense import settings as slices


def test_an_adaptive_attack_is_keyed_by_scale_and_samples_only_where_the_defence_does(base_config):
    vae = slices.attack_settings(base_config, "mnist", "cweot", 0.1, "vae_d1_stp0.4_a0", 2.0)
    assert vae["scale"] == 2.0 and vae["eot_draws"] == base_config["attacks"]["cweot"]["eot_draws"]
    assert vae["seed"] == base_config["seeds"]["attack"]  # the latent draws are seeded
    for cell, scale in (("vae_d1_stp0.4_a0", 0.0), ("ae_d1_stp0.4_a0", 0.0), ("none", 0.0)):
        deterministic = slices.attack_settings(base_config, "mnist", "cweot", 0.1, cell, scale)
        assert deterministic["eot_draws"] == 1 and "seed" not in deterministic


def test_the_plain_attack_settings_do_not_change(base_config):
    """The paper's attack: no scale, no draws, no seed (CW is deterministic), whatever cell."""
    plain = slices.attack_settings(base_config, "mnist", "cw", 0.1, "vae_d1_stp0.4_a0", None)
    assert plain == {**base_config["attacks"]["cw"], "name": "cw", "eps": 0.1, "images": 1000}


def test_a_comparison_figure_evaluates_its_cells_under_each_attack(base_config):
    rows = slices.evaluations(base_config, (), False, ["fig3_eot"])
    eps = [float(e) for e in base_config["data"]["mnist"]["eps"]]
    mnist = [r for r in rows if r[0] == "mnist"]
    scales = base_config["figures"]["fig3"]["scales"]
    cells = {"vae_d0_stp0.4_a0", "vae_d1_stp0.4_a0"}
    expected = {("mnist", "none", "clean", 0.0, 0.0)}
    expected |= {("mnist", "none", "cw", e, 0.0) for e in eps}  # not cweot: it is cw there
    for cell in cells:
        for scale in scales:
            expected.add(("mnist", cell, "clean", 0.0, scale))
            expected |= {("mnist", cell, attack, e, scale) for attack in ("cw", "cweot") for e in eps}
    assert set(mnist) == expected
    assert slices.figure_attacks(base_config, "fig3_eot") == ["cw", "cweot"]
    assert slices.figure_layout(base_config, "fig3_eot") == "fig3"
    assert slices.figure_attacks(base_config, "fig3") == ["cw", "pgd"]


def test_the_paper_figures_do_not_include_the_comparisons(base_config):
    paper = slices.evaluations(base_config, ["fig3"], False, ())
    assert not [r for r in paper if r[2] == "cweot"]
    assert [r for r in slices.evaluations(base_config) if r[2] == "cweot"]
