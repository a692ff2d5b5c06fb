"""What the accuracy figures draw from a table: one curve per attack, in the figure's order."""

import pandas as pd

from aedefense.figures import ATTACK_LOOKS, attack_curves


def rows(attacks):
    clean = [{"attack": "clean", "eps": 0.0, "accuracy_mean": 0.9}]
    return pd.DataFrame(clean + [{"attack": a, "eps": e, "accuracy_mean": 0.5} for a in attacks for e in (0.1, 0.3)])


def test_each_attack_is_one_curve_from_the_clean_point_in_the_figures_order():
    curves = attack_curves(rows(["pgdeot", "pgd", "cweot", "cw"]), "scale 1", "cw", ["cw", "cweot", "pgd", "pgdeot"])
    names = list(dict.fromkeys(curves["curve"]))
    assert names == ["scale 1", "scale 1, CWEOT", "scale 1, PGD", "scale 1, PGDEOT"]
    for _, curve in curves.groupby("curve"):
        assert list(curve["eps"]) == [0.0, 0.1, 0.3]  # every curve starts at the clean accuracy
    assert not curves.loc[curves["curve"] == "scale 1", "reference"].any()
    assert curves.loc[curves["curve"] != "scale 1", "reference"].all()


def test_attacks_outside_the_order_come_last_by_name_and_every_attack_has_its_own_look():
    curves = attack_curves(rows(["bim", "pgd", "cw"]), "x", "cw", ["cw", "pgd"])
    assert list(dict.fromkeys(curves["curve_attack"])) == ["cw", "pgd", "bim"]
    assert len(set(ATTACK_LOOKS)) == len(ATTACK_LOOKS) >= 6  # the figures with the most attacks draw 5
