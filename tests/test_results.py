"""The tidy rows' statistics."""

import pytest

from aedefense.report.results import accuracy_row, wilson_interval


@pytest.mark.parametrize(
    ("p", "n", "low", "high"),
    [(0.5, 100, 0.4038, 0.5962), (0.0, 100, 0.0, 0.0370), (1.0, 100, 0.9630, 1.0), (0.9, 1000, 0.8798, 0.9171)],
)
def test_wilson_interval_matches_published_values(p, n, low, high):
    assert wilson_interval(p, n) == pytest.approx((low, high), abs=1e-4)


def test_wilson_interval_narrows_with_more_images():
    small, large = wilson_interval(0.3, 100), wilson_interval(0.3, 10_000)
    assert small[0] < large[0] < 0.3 < large[1] < small[1]


def test_the_summary_is_the_mean_and_spread_over_training_seeds():
    import pandas as pd

    from aedefense.report.results import over_training_seeds, wilson_interval

    rows = []
    for replicate, accuracy in enumerate([0.5, 0.7, 0.9]):
        rows.append(
            {
                "dataset": "mnist",
                "cell": "ae_d1_stp0.4_a0",
                "attack": "cw",
                "scale": 0.0,
                "eps": 0.2,
                "replicate": replicate,
                "accuracy_mean": accuracy,
                "n_images": 100,
                "sanity_flags": "accuracy_does_not_rise_with_eps" if replicate == 1 else None,
            }
        )
    rows.append(
        {
            "dataset": "mnist",
            "cell": "none",
            "attack": "cw",
            "scale": 0.0,
            "eps": 0.2,
            "replicate": 0,
            "accuracy_mean": 0.1,
            "n_images": 100,
            "sanity_flags": None,
        }
    )
    summary = over_training_seeds(pd.DataFrame(rows)).set_index("cell")
    ae = summary.loc["ae_d1_stp0.4_a0"]
    assert ae["accuracy_mean"] == pytest.approx(0.7) and ae["training_seeds"] == 3
    assert ae["accuracy_seed_std"] == pytest.approx(0.2)  # sample std of 0.5, 0.7, 0.9
    assert (ae["accuracy_seed_min"], ae["accuracy_seed_max"]) == (0.5, 0.9)
    assert ae["sanity_flags"] == "accuracy_does_not_rise_with_eps"
    none = summary.loc["none"]
    assert none["training_seeds"] == 1 and none["accuracy_seed_std"] == 0 and none["sanity_flags"] == ""
    assert "replicate" not in summary
    # the mean's interval counts the images of every seed: narrower than one seed's
    assert (ae["accuracy_ci_low"], ae["accuracy_ci_high"]) == pytest.approx(wilson_interval(0.7, 300))
    assert none["accuracy_ci_high"] - none["accuracy_ci_low"] == pytest.approx(
        wilson_interval(0.1, 100)[1] - wilson_interval(0.1, 100)[0]
    )


def test_a_rows_draw_error_is_the_standard_error_of_its_draws():
    settings = {"scale": 1.0, "images": 100, "draws": 4, "draw_seeds": "per_point", "seed": 0}
    row = accuracy_row(
        dataset="mnist",
        cell="vae_d0_stp0.4_a0",
        eps=0.1,
        attack_name="cw",
        settings=settings,
        accuracies=[0.5, 0.6, 0.7, 0.6],
        attack=None,
        classifier_settings={"seed": 0, "epochs": 1},
        autoencoder_settings={"seed": 0},
        defence_columns={"cell": "vae_d0_stp0.4_a0", "family": "vae"},
    )
    assert row["accuracy_mean"] == pytest.approx(0.6)
    assert row["accuracy_draw_se"] == pytest.approx(0.0816497 / 2)  # sample std over sqrt(4)
    assert row["draw_seeds"] == "per_point" and row["draws"] == 4


def test_the_wilson_interval_holds_p_at_the_ends():
    """At p = 0 (every image fooled) rounding put the lower bound a hair above p, and a figure
    of three training seeds failed on a negative error bar."""
    from aedefense.report.results import wilson_interval

    for p, n in ((0.0, 3000), (1.0, 3000), (0.0, 1), (0.5, 100)):
        low, high = wilson_interval(p, n)
        assert 0.0 <= low <= p <= high <= 1.0
