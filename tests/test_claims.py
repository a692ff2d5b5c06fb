"""The claims' decision rule on small synthetic tables made to give each verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from aedefense.report.claims import (
    CANNOT_TELL,
    HOLDS,
    IN_PART,
    NOT_HOLDS,
    OPPOSITE,
    ClaimsError,
    judge,
    judge_tables,
    load_claims,
    markdown_table,
    parse_claims,
)
from aedefense.report.results import encode_counts, read_table, write_table

DECISION = {
    "z": 1.96,
    "margin": 0.02,
    "relative_margin": 0.1,
    "seed_replicates": 3,
    "assumed_seed_std": 0.015,
    "assumed_relative_seed_std": 0.05,
}
AE, DAE = "ae_d0_stp0.1_a0", "ae_d1_stp0.1_a0"
EPS = [0.1, 0.2]


def claims_with(expect: str, **extra) -> dict:
    comparison = {
        "name": "DAE against AE",
        "figure": "fig1",
        "datasets": ["mnist"],
        "cell": DAE,
        "against": AE,
        "eps": "attacked",
        "expect": expect,
        **extra,
    }
    return {
        "decision": dict(DECISION),
        "claims": {"denoising": {"by": "paper", "says": "x", "comparisons": [comparison]}},
    }


def curve_rows(cell, correct_by_eps: dict, replicate=0, family="ae", scale=0.0, attack="cw"):
    """Accuracy rows of one curve: per eps a 0/1 array of correct images."""
    rows = []
    for eps, correct in correct_by_eps.items():
        correct = np.asarray(correct, dtype=np.int64)
        rows.append(
            {
                "dataset": "mnist",
                "cell": cell,
                "family": family,
                "replicate": replicate,
                "attack": "clean" if eps == 0 else attack,
                "scale": scale,
                "eps": eps,
                "n_images": len(correct),
                "draws": 1,
                "accuracy_mean": correct.mean(),
                "images_correct": encode_counts(correct, 1),
            }
        )
    return rows


def flipped(base: np.ndarray, count: int, offset: int = 0) -> np.ndarray:
    """base with `count` wrong images made right (or right ones wrong if none are wrong)."""
    out = base.copy()
    wrong = np.flatnonzero(out == 0)[offset : offset + count]
    out[wrong] = 1
    return out


def base_images(n: int, accuracy: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random(n) < accuracy).astype(np.int64)


def table_of(pairs) -> pd.DataFrame:
    return pd.DataFrame([row for rows in pairs for row in rows])


def comparison_row(table, claims, expect=None):
    judged = judge(parse_claims(claims), table, None, ["mnist"])
    return judged[judged["level"] == "comparison"].iloc[0], judged


def three_seeds(gain: int, n=2000, seed_jitter=0):
    """AE and DAE with three training seeds: the DAE gets `gain` more images right at every eps;
    seed_jitter images move between seeds."""
    parts = []
    for r in range(3):
        base = {eps: base_images(n, 0.5, seed=10 * r + i) for i, eps in enumerate(EPS)}
        parts.append(curve_rows(AE, base, replicate=r))
        shifted = {eps: flipped(images, gain + r * seed_jitter) for eps, images in base.items()}
        parts.append(curve_rows(DAE, shifted, replicate=r, family="ae"))
    return table_of(parts)


def test_a_clear_gain_holds_and_its_reverse_is_opposite():
    table = three_seeds(gain=120)  # 6 points on 2,000 images
    row, _ = comparison_row(table, claims_with("higher"))
    assert row["verdict"] == HOLDS
    assert row["effect"] == pytest.approx(0.06)
    assert row["paired"] and row["training_seeds"] == 3
    assert row["seed_std_source"] == "pair's own 3 seeds"
    assert row["interval_low"] > 0
    row, _ = comparison_row(table, claims_with("lower"))
    assert row["verdict"] == OPPOSITE


def test_no_difference_on_many_images_and_seeds_does_not_hold():
    row, _ = comparison_row(three_seeds(gain=2, n=4000), claims_with("higher"))
    assert row["effect"] == pytest.approx(0.0005)
    assert -0.02 < row["interval_low"] and row["interval_high"] < 0.02
    assert row["verdict"] == NOT_HOLDS
    row, _ = comparison_row(three_seeds(gain=2, n=4000), claims_with("level"))
    assert row["verdict"] == HOLDS


def test_few_images_and_one_seed_cannot_tell():
    base = {eps: base_images(60, 0.5, seed=i) for i, eps in enumerate(EPS)}
    table = table_of([curve_rows(AE, base), curve_rows(DAE, {e: flipped(b, 3) for e, b in base.items()})])
    row, _ = comparison_row(table, claims_with("higher"))
    assert row["verdict"] == CANNOT_TELL
    assert row["seed_std_source"] == "assumed"  # one seed, nothing measured
    assert row["seed_std"] == pytest.approx(0.015 * 2**0.5)


def test_the_pairing_on_images_narrows_the_interval():
    """20 images of 1,000 gained by every seed: paired, the image error is sqrt(0.02 / 1000 / 3);
    as independent accuracies it would be about 0.013 and the gain could not be told."""
    table = three_seeds(gain=20, n=1000)
    row, _ = comparison_row(table, claims_with("higher"))
    assert row["image_se"] < 0.004
    unpaired = table.drop(columns=["images_correct"])
    row_unpaired, _ = comparison_row(unpaired, claims_with("higher"))
    assert not row_unpaired["paired"]
    assert row_unpaired["image_se"] > 4 * row["image_se"]
    assert (row["verdict"], row_unpaired["verdict"]) == (HOLDS, CANNOT_TELL)


def test_a_wide_seed_spread_turns_a_gain_into_cannot_tell():
    """The same mean gain with seeds that disagree by tens of images: the seed part decides."""
    steady = comparison_row(three_seeds(gain=60, n=2000), claims_with("higher"))[0]
    jittery = comparison_row(three_seeds(gain=0, n=2000, seed_jitter=60), claims_with("higher"))[0]
    assert steady["verdict"] == HOLDS
    assert jittery["effect"] == pytest.approx(steady["effect"])
    assert jittery["seed_std"] > 10 * steady["seed_std"]
    assert jittery["verdict"] == CANNOT_TELL


def test_one_seed_borrows_the_pooled_spread_of_its_kind():
    """A cell with one seed takes the pooled seed std that other cells of its kind measured."""
    table = three_seeds(gain=0, n=1000, seed_jitter=20)
    other = {eps: base_images(1000, 0.5, seed=99 + i) for i, eps in enumerate(EPS)}
    lone = "ae_d1_stp0.2_a0"
    table = pd.concat([table, table_of([curve_rows(lone, other), curve_rows("ae_d0_stp0.2_a0", other)])])
    claims = claims_with("higher", cell=lone, against="ae_d0_stp0.2_a0")
    row, _ = comparison_row(table, claims)
    assert row["seed_std_source"] == "pooled (deterministic autoencoder)"
    assert row["training_seeds"] == 1
    from aedefense.report.seeds import pooled, seed_spread

    kinds = pooled(seed_spread(table)).set_index("kind")["pooled_seed_std"]
    assert row["seed_std"] == pytest.approx(2**0.5 * kinds["deterministic autoencoder"])


def test_claim_lines_count_the_comparisons():
    table = three_seeds(gain=120)
    claims = claims_with("higher")
    extra = dict(claims["claims"]["denoising"]["comparisons"][0], name="clean", eps=[0.2], expect="lower")
    claims["claims"]["denoising"]["comparisons"].append(extra)
    judged = judge(parse_claims(claims), table, None, ["mnist", "fashion-mnist"])
    claim = judged[judged["level"] == "claim"].iloc[0]
    assert claim["verdict"] == IN_PART
    assert claim["comparison"] == "2 comparisons: 1 holds, 1 opposite"
    assert claim["effect_min"] == pytest.approx(0.06) and claim["effect_max"] == pytest.approx(0.06)
    assert set(judged["dataset"]) == {"mnist"}  # no fashion-mnist rows in the tables
    points = judged[judged["level"] == "point"]
    assert sorted(points["eps"]) == ["0.1", "0.2"]


def test_latent_quantities_compare_relatively():
    latent = pd.DataFrame(
        [
            {"dataset": "mnist", "cell": "ae_d0_stp0_a0", "eps": 0.15, "n_images": 1000, "clean_code_diameter": 60.0},
            {"dataset": "mnist", "cell": "vae_d0_stp0_a0", "eps": 0.15, "n_images": 1000, "clean_code_diameter": 20.0},
        ]
    )
    claims = claims_with(
        "higher", cell="ae_d0_stp0_a0", against="vae_d0_stp0_a0", quantity="clean_code_diameter", eps="latent"
    )
    judged = judge(parse_claims(claims), three_seeds(gain=0), latent, ["mnist"])
    row = judged[judged["level"] == "comparison"].iloc[0]
    assert row["effect"] == pytest.approx(2.0)  # three times as large
    assert row["verdict"] == HOLDS


@pytest.mark.parametrize(
    "change, message",
    [
        ({"expect": "bigger"}, "expect 'bigger' is not one of higher, lower, not_lower, not_higher, level"),
        ({"colour": "red"}, "unknown key(s) colour"),
        ({"for": {"stp": [0.1, 0.2], "x": [1]}}, "the lists of `for` differ in length"),
        (
            {"cell": "ae_d1_stp{std}_a0", "for": {"stp": [0.1]}},
            "{std} in 'ae_d1_stp{std}_a0' is not a key of its `for`",
        ),
        ({"cell": "cae_d1_stp0.1_a0"}, "is not a cell name"),
        ({"eps": "small"}, "eps 'small' is not a list of eps or one of attacked, large, latent"),
    ],
)
def test_bad_claims_are_named(change, message):
    claims = claims_with("higher")
    claims["claims"]["denoising"]["comparisons"][0].update(change)
    with pytest.raises(ClaimsError, match="claims.denoising.comparisons.0.") as error:
        parse_claims(claims)
    assert message in str(error.value)


def test_the_workflows_claims_file_parses(tmp_path):
    from conftest import ROOT

    from aedefense.report.claims import Claims

    claims = load_claims(ROOT / "workflow" / "claims.yaml")
    assert isinstance(claims, Claims)
    names = [(c.claim, c.name) for c in claims.comparisons]
    assert len(names) == len(set(names)), "a comparison is listed twice"
    assert {c.by for c in claims.comparisons} == {"paper", "ours"}


def test_judge_tables_writes_a_checked_table_and_the_readme_lines(tmp_path):
    table = three_seeds(gain=120)
    accuracy = tmp_path / "accuracy_fig1.csv"
    write_table(table, accuracy)
    claims_path = tmp_path / "claims.yaml"
    claims_path.write_text(yaml.safe_dump(claims_with("higher")))
    dest = tmp_path / "claims.csv"
    judge_tables(claims_path, [accuracy], [], ["mnist"], dest)
    written = read_table(dest)
    assert written["inputs_sha256"].str.contains("accuracy_fig1.csv").all()
    claim = written[written["level"] == "claim"].iloc[0]
    assert claim["verdict"] == HOLDS
    lines = markdown_table({"MNIST": written}, load_claims(claims_path))
    assert "| denoising: x | paper | mnist: **holds**: 1 of 1 comparison hold; effects +6.0 pts |" in lines
    with pytest.raises(ClaimsError, match="hold none of the compared curves"):
        other = tmp_path / "other.csv"
        write_table(table.assign(cell="none"), other)
        judge_tables(claims_path, [other], [], ["mnist"])


def test_a_curve_in_several_figure_tables_is_read_from_the_comparisons_figure(tmp_path):
    """Runs made figure by figure each retrain a shared cell: the comparison of Fig. 4 takes
    Fig. 4's AE, not Fig. 1's."""
    base = {eps: base_images(500, 0.5, seed=i) for i, eps in enumerate(EPS)}
    fig1 = table_of([curve_rows(AE, {e: flipped(b, 100) for e, b in base.items()})])
    fig4 = table_of([curve_rows(AE, base), curve_rows(DAE, {e: flipped(b, 50) for e, b in base.items()})])
    paths = []
    for name, table in (("fig1", fig1), ("fig4", fig4)):
        paths.append(tmp_path / f"accuracy_{name}.csv")
        write_table(table, paths[-1])
    claims_path = tmp_path / "claims.yaml"
    claims_path.write_text(yaml.safe_dump(claims_with("higher", figure="fig4")))
    judged = judge_tables(claims_path, paths, [], ["mnist"])
    row = judged[judged["level"] == "comparison"].iloc[0]
    assert row["effect"] == pytest.approx(0.1)  # against Fig. 1's AE it would be -0.1


def test_seeds_that_share_their_images_do_not_shrink_the_image_error():
    """Every seed gains the same 30 images of 1,000: averaging the seeds does not add images,
    so the image error is one seed's, sqrt(var(d) / n), not that over sqrt(3)."""
    base = {eps: base_images(1000, 0.5, seed=i) for i, eps in enumerate(EPS)}
    gained = {eps: flipped(images, 30) for eps, images in base.items()}
    table = table_of(
        [curve_rows(AE, base, replicate=r) for r in range(3)] + [curve_rows(DAE, gained, replicate=r) for r in range(3)]
    )
    row, judged = comparison_row(table, claims_with("higher"))
    d = np.mean([gained[e] - base[e] for e in EPS], axis=0)  # the per-image mean over the eps
    assert row["image_se"] == pytest.approx(np.sqrt(np.var(d, ddof=1) / 1000))
    assert row["seed_std"] == 0 and row["seed_quantile"] == pytest.approx(4.303)
    point = judged[(judged["level"] == "point") & (judged["eps"] == "0.1")].iloc[0]
    one = gained[0.1] - base[0.1]
    assert point["image_se"] == pytest.approx(np.sqrt(np.var(one, ddof=1) / 1000))


def test_a_measured_three_seed_spread_is_weighed_with_students_t():
    """Seeds that disagree: the seed part of the interval uses t with 2 degrees of freedom."""
    row, _ = comparison_row(three_seeds(gain=0, n=2000, seed_jitter=60), claims_with("higher"))
    half = row["interval_high"] - row["effect"]
    expected = np.sqrt((1.96 * row["image_se"]) ** 2 + (4.303 * row["seed_std"]) ** 2 / 3)
    assert half == pytest.approx(expected)
