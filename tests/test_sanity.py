"""The sanity checks of an accuracy figure, on small hand-made tables."""

import pandas as pd
import pytest

from aedefense.report.sanity import check_figure, noise, write_checked_table


def rows(cell, attack, points, scale=0.0, n=100):
    return [
        {
            "dataset": "mnist",
            "cell": cell,
            "scale": scale,
            "attack": attack,
            "eps": eps,
            "accuracy_mean": accuracy,
            "n_images": n,
        }
        for eps, accuracy in points
    ]


def table(*groups):
    return pd.DataFrame([row for group in groups for row in group])


def flags_of(flagged, cell, attack, eps):
    match = flagged[(flagged["cell"] == cell) & (flagged["attack"] == attack) & (flagged["eps"] == eps)]
    return match["sanity_flags"].iloc[0]


def test_noise_is_the_binomial_spread_of_two_accuracies():
    assert noise(0.5, 0.5, 100) == pytest.approx(1.96 * (0.5 / 100) ** 0.5)
    assert noise(0.0, 0.0, 100) == 0.01  # at least one image


def test_a_healthy_figure_passes_every_check():
    good = table(
        rows("none", "clean", [(0.0, 0.98)]),
        rows("none", "cw", [(0.1, 0.3), (0.2, 0.02), (0.3, 0.0)]),
        rows("ae", "clean", [(0.0, 0.97)]),
        rows("ae", "cw", [(0.1, 0.8), (0.2, 0.5), (0.3, 0.31)]),  # 0.3 -> 0.31: within noise
        rows("ae", "cwlong", [(0.2, 0.45)]),
    )
    flagged, checks = check_figure(good, "cw", "cwlong", 0.05)
    assert checks["passed"].all() and (flagged["sanity_flags"] == "").all()
    # 2 curves x 3 steps from clean, cwlong's step from clean, ae's longer-attack check,
    # the undefended check
    assert sorted(checks["check"].value_counts().items()) == [
        ("accuracy_does_not_rise_with_eps", 2 * 3 + 1),
        ("longer_attack_does_not_raise_accuracy", 1),
        ("undefended_is_broken", 1),
    ]


def test_each_failure_is_flagged_on_the_point_in_question():
    bad = table(
        rows("none", "clean", [(0.0, 0.98)]),
        rows("none", "cw", [(0.1, 0.3), (0.2, 0.2), (0.3, 0.12)]),  # not broken at 0.3
        rows("vae", "clean", [(0.0, 0.9)], scale=1.0),
        rows("vae", "cw", [(0.1, 0.5), (0.2, 0.75), (0.3, 0.2)], scale=1.0),  # +0.25 at 0.2
        rows("vae", "cwlong", [(0.2, 0.99)], scale=1.0),  # more iterations, more accuracy
    )
    flagged, checks = check_figure(bad, "cw", "cwlong", 0.05)
    assert flags_of(flagged, "none", "cw", 0.3) == "undefended_is_broken"
    assert (
        flags_of(flagged, "vae", "cw", 0.2) == "accuracy_does_not_rise_with_eps;longer_attack_does_not_raise_accuracy"
    )
    assert flags_of(flagged, "vae", "cw", 0.3) == ""
    assert flags_of(flagged, "vae", "cwlong", 0.2) == "accuracy_does_not_rise_with_eps"  # 0.9 -> 0.99
    failed = checks[~checks["passed"]]
    assert len(failed) == 4
    detail = failed[failed["check"] == "longer_attack_does_not_raise_accuracy"]["detail"].iloc[0]
    assert "cw 0.750 -> cwlong 0.990 at eps 0.2" in detail


def test_without_a_longer_attack_that_check_is_not_run():
    plain = table(rows("none", "clean", [(0.0, 1.0)]), rows("none", "cw", [(0.3, 0.0)]))
    _, checks = check_figure(plain, "cw", None, 0.05)
    assert set(checks["check"]) == {"accuracy_does_not_rise_with_eps", "undefended_is_broken"}


def test_the_checked_table_and_its_checks_are_written_and_the_flagged_table_returned(tmp_path):
    rising = table(rows("none", "clean", [(0.0, 0.98)]), rows("none", "cw", [(0.1, 0.2), (0.3, 0.6)]))
    sanity = {"main_attack": "cw", "longer_attack": None, "undefended_max_accuracy": 0.05}
    flagged = write_checked_table(rising, sanity, tmp_path / "table.csv", tmp_path / "sanity.csv")
    assert flags_of(flagged, "none", "cw", 0.3) == "accuracy_does_not_rise_with_eps;undefended_is_broken"
    assert pd.read_csv(tmp_path / "table.csv")["sanity_flags"].fillna("").tolist() == flagged["sanity_flags"].tolist()
    checks = pd.read_csv(tmp_path / "sanity.csv")
    assert (~checks["passed"]).sum() == 2 and len(checks) == 3
