"""The checks a careful reviewer runs on an accuracy figure, on its table alone.

- accuracy_does_not_rise_with_eps: along a curve (clean, then each eps of one attack on one cell at
  one scale) accuracy must not rise by more than the sampling noise of two accuracies on n
  images: z * sqrt(p1 (1 - p1) / n + p2 (1 - p2) / n), and at least one image.
- undefended_is_broken: the undefended classifier under the figure's main attack at the
  largest eps must be at or below `undefended_max_accuracy`.
- longer_attack_does_not_raise_accuracy: the longer attack (the main attack with more iterations, run
  at one eps) must not leave more accuracy than the main attack, beyond the same noise; a
  failure flags the main attack's point, the one that overstates the defence.

Each check instance is one row of the sanity table; a row of the accuracy table that fails a
check carries the check's name in `sanity_flags`.
"""

from __future__ import annotations

import math

import pandas as pd

from aedefense.plan.names import CLEAN, UNDEFENDED
from aedefense.report.results import write_table

Z = 1.96
CURVE = ["dataset", "cell", "scale", "replicate"]  # one curve per training seed


def noise(p1: float, p2: float, n: int) -> float:
    """How far two accuracies on n images may differ by chance (95%), at least one image."""
    return max(Z * math.sqrt(p1 * (1 - p1) / n + p2 * (1 - p2) / n), 1 / n)


def rise_beyond_noise(before: float, after: float, n: int) -> float:
    """How far `after` lies above `before` beyond the noise of n images (> 0: a real rise):
    the test of the sanity table and of the health table alike.

    >>> round(rise_beyond_noise(0.30, 0.45, 1000), 3), rise_beyond_noise(0.45, 0.30, 1000) < 0
    (0.108, True)
    """
    return after - before - noise(before, after, n)


def _check(checks, flags, name, row_index, passed, detail, row):
    checks.append(
        {"check": name, **{k: row.get(k, 0) for k in (*CURVE, "attack", "eps")}, "passed": passed, "detail": detail}
    )
    if not passed:
        flags[row_index].append(name)


def check_figure(
    table: pd.DataFrame, main_attack: str, longer_attack: str | None, undefended_max_accuracy: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the table with a `sanity_flags` column, the sanity table: one row per check)."""
    table = table.reset_index(drop=True)
    if "replicate" not in table:
        table = table.assign(replicate=0)
    flags = {i: [] for i in table.index}
    checks: list[dict] = []
    for _, curve_rows in table.groupby(CURVE, dropna=False, sort=True):
        clean = curve_rows[curve_rows["attack"] == CLEAN]
        for attack in sorted(set(curve_rows["attack"]) - {CLEAN}):
            points = pd.concat([clean, curve_rows[curve_rows["attack"] == attack]]).sort_values("eps")
            for (_, before), (index, after) in zip(points.iterrows(), list(points.iterrows())[1:]):
                allowed = noise(before["accuracy_mean"], after["accuracy_mean"], int(after["n_images"]))
                _check(
                    checks,
                    flags,
                    "accuracy_does_not_rise_with_eps",
                    index,
                    rise_beyond_noise(before["accuracy_mean"], after["accuracy_mean"], int(after["n_images"])) <= 0,
                    f"{before['accuracy_mean']:.3f} at eps {before['eps']:g} -> "
                    f"{after['accuracy_mean']:.3f} at eps {after['eps']:g} (noise {allowed:.3f})",
                    after,
                )
        if longer_attack:
            main = curve_rows[curve_rows["attack"] == main_attack]
            for _, longer in curve_rows[curve_rows["attack"] == longer_attack].iterrows():
                same_eps = main[main["eps"] == longer["eps"]]
                if same_eps.empty:
                    continue
                index, shorter = same_eps.index[0], same_eps.iloc[0]  # the point in question
                allowed = noise(shorter["accuracy_mean"], longer["accuracy_mean"], int(longer["n_images"]))
                _check(
                    checks,
                    flags,
                    "longer_attack_does_not_raise_accuracy",
                    index,
                    rise_beyond_noise(shorter["accuracy_mean"], longer["accuracy_mean"], int(longer["n_images"])) <= 0,
                    f"{main_attack} {shorter['accuracy_mean']:.3f} -> {longer_attack} "
                    f"{longer['accuracy_mean']:.3f} at eps {longer['eps']:g} (noise {allowed:.3f})",
                    shorter,
                )
    undefended = table[(table["cell"] == UNDEFENDED) & (table["attack"] == main_attack)]
    for _, rows in undefended.groupby(["dataset", "replicate"]):
        index = rows["eps"].idxmax()
        accuracy = rows.loc[index, "accuracy_mean"]
        _check(
            checks,
            flags,
            "undefended_is_broken",
            index,
            accuracy <= undefended_max_accuracy,
            f"{accuracy:.3f} at eps {rows.loc[index, 'eps']:g} (at most {undefended_max_accuracy:g})",
            rows.loc[index],
        )
    flagged = table.assign(sanity_flags=[";".join(flags[i]) for i in table.index])
    return flagged, pd.DataFrame(checks, columns=["check", *CURVE, "attack", "eps", "passed", "detail"])


def write_checked_table(table: pd.DataFrame, sanity: dict, table_dest, sanity_dest) -> pd.DataFrame:
    """Run the checks with a rule's sanity params (main_attack and the config's sanity keys),
    write the flagged table and the checks, list the failures in the job's log; return the
    flagged table."""
    flagged, checks = check_figure(
        table, sanity["main_attack"], sanity["longer_attack"], sanity["undefended_max_accuracy"]
    )
    write_table(checks, sanity_dest)
    write_table(flagged, table_dest)
    failed = checks[~checks["passed"]]
    print(f"{table_dest}: {len(flagged)} rows; sanity: {len(failed)} of {len(checks)} checks failed")
    for _, check in failed.iterrows():
        print(
            f"  FLAG {check['check']}: {check['dataset']} {check['cell']} scale {check['scale']:g} "
            f"{check['attack']}: {check['detail']}"
        )
    return flagged
