"""The paper's claims and our own findings, judged on a run's tables (workflow/claims.yaml).

Each comparison sets one curve against another on the same attacked images. Its effect is the
mean over its eps (and over the training seeds both curves have) of the paired difference,
image by image (`images_correct`; without it the two accuracies are taken as independent).
Its standard error adds two parts:

- the images: the standard error of the mean per-image difference, per seed, pooled over seeds;
- the training seeds: each curve's seed std, from its own seeds where it has at least
  `seed_replicates`, else the pooled std of its kind of model measured in the same tables
  (aedefense.report.seeds), else `assumed_seed_std`; the two curves' variances add.

Both are divided by the number of seeds averaged. The interval is effect +- z * se, and the
verdict follows from where it lies against 0 and the margin (`verdict`, docs/claims.md).
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from aedefense.plan.cells import cell_from_name, format_number
from aedefense.plan.names import CLEAN, UNDEFENDED
from aedefense.report.seeds import kind_of, root_mean_square, seed_spread

HOLDS, NOT_HOLDS, OPPOSITE, CANNOT_TELL, IN_PART = "holds", "does not hold", "opposite", "cannot tell", "in part"
EXPECTATIONS = ("higher", "lower", "not_lower", "not_higher", "level")
EPS_CHOICES = ("attacked", "large", "latent")
ACCURACY = "accuracy"
FIGURE_COLUMN = "table_figure"  # which figure's table a row was read from (accuracy_<figure>.csv)
LATENT_QUANTITIES = ("clean_code_diameter", "relative_displacement", "cosine", "norm_ratio")
DECISION_KEYS = ("z", "margin", "relative_margin", "seed_replicates", "assumed_seed_std", "assumed_relative_seed_std")
COMPARISON_KEYS = {
    "name",
    "figure",
    "datasets",
    "quantity",
    "cell",
    "against",
    "scale",
    "against_scale",
    "attack",
    "against_attack",
    "for",
    "eps",
    "expect",
}
COLUMNS = [
    "claim", "by", "level", "dataset", "comparison", "figure", "quantity", "cell", "scale", "attack",
    "against", "against_scale", "against_attack", "eps", "expect", "training_seeds", "n_images",
    "paired", "value", "against_value", "effect", "effect_min", "effect_max", "image_se", "seed_std",
    "seed_std_source", "se", "seed_quantile",
    "interval_low", "interval_high", "margin", "verdict", "says",
]  # fmt: skip


class ClaimsError(ValueError):
    """A claims file that cannot be read as claims."""


@dataclass(frozen=True)
class Comparison:
    claim: str
    by: str
    says: str
    name: str
    figure: str
    datasets: tuple
    quantity: str
    cell: str
    against: str
    scale: float
    against_scale: float
    attack: str
    against_attack: str
    eps: object  # a choice of EPS_CHOICES or a tuple of floats
    expect: str


@dataclass
class Claims:
    decision: dict
    comparisons: list = field(default_factory=list)


def _cell(text: str, where: str) -> str:
    if text == UNDEFENDED:
        return text
    try:
        return cell_from_name(text).canonical().name
    except ValueError as error:
        raise ClaimsError(f"{where}: {error}") from None


def _format(template, values: dict, where: str) -> str:
    text = str(template)
    try:
        return text.format(**{k: format_number(v) if isinstance(v, (int, float)) else v for k, v in values.items()})
    except KeyError as error:
        raise ClaimsError(f"{where}: {{{error.args[0]}}} in {text!r} is not a key of its `for`") from None


def _repeats(spec: dict, where: str) -> list[dict]:
    repeat = spec.get("for") or {}
    if not isinstance(repeat, dict) or any(not isinstance(v, list) for v in repeat.values()):
        raise ClaimsError(f"{where}: `for` must map names to lists of values, e.g. {{stp: [0.1, 0.2]}}")
    lengths = {len(v) for v in repeat.values()}
    if len(lengths) > 1:
        raise ClaimsError(f"{where}: the lists of `for` differ in length ({sorted(lengths)}); give each the same")
    count = lengths.pop() if lengths else 1
    return [{k: v[i] for k, v in repeat.items()} for i in range(count)]


def parse_claims(data: dict) -> Claims:
    """Claims from the parsed YAML of a claims file, every comparison expanded over its `for`."""
    if not isinstance(data, dict) or set(data) != {"decision", "claims"}:
        raise ClaimsError("a claims file holds two keys, `decision` and `claims` (see workflow/claims.yaml)")
    decision = data["decision"]
    missing = [k for k in DECISION_KEYS if k not in (decision or {})]
    if missing:
        raise ClaimsError(f"decision: missing {', '.join(missing)}")
    claims = Claims(decision={k: float(decision[k]) for k in DECISION_KEYS})
    for claim_id, claim in data["claims"].items():
        where = f"claims.{claim_id}"
        if claim.get("by") not in ("paper", "ours"):
            raise ClaimsError(f"{where}.by must be paper (the paper's claim) or ours (our own finding)")
        for index, spec in enumerate(claim.get("comparisons") or []):
            at = f"{where}.comparisons[{index}]"
            unknown = set(spec) - COMPARISON_KEYS
            if unknown:
                raise ClaimsError(
                    f"{at}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(COMPARISON_KEYS))}"
                )
            for key in ("name", "figure", "datasets", "cell", "against", "eps", "expect"):
                if key not in spec:
                    raise ClaimsError(f"{at}: `{key}` is missing")
            if spec["expect"] not in EXPECTATIONS:
                raise ClaimsError(f"{at}: expect {spec['expect']!r} is not one of {', '.join(EXPECTATIONS)}")
            quantity = spec.get("quantity", ACCURACY)
            if quantity not in (ACCURACY, *LATENT_QUANTITIES):
                raise ClaimsError(
                    f"{at}: quantity {quantity!r} is not accuracy or one of {', '.join(LATENT_QUANTITIES)}"
                )
            eps = spec["eps"]
            if isinstance(eps, list):
                eps = tuple(float(e) for e in eps)
            elif eps not in EPS_CHOICES:
                raise ClaimsError(f"{at}: eps {eps!r} is not a list of eps or one of {', '.join(EPS_CHOICES)}")
            if (eps == "latent") != (quantity != ACCURACY):
                raise ClaimsError(
                    f"{at}: eps latent goes with a latent quantity, and a latent quantity with eps latent"
                )
            for values in _repeats(spec, at):
                scale = float(_format(spec.get("scale", 0), values, at))
                claims.comparisons.append(
                    Comparison(
                        claim=claim_id,
                        by=claim["by"],
                        says=claim["says"],
                        name=_format(spec["name"], values, at),
                        figure=spec["figure"],
                        datasets=tuple(spec["datasets"]),
                        quantity=quantity,
                        cell=_cell(_format(spec["cell"], values, at), at),
                        against=_cell(_format(spec["against"], values, at), at),
                        scale=scale,
                        against_scale=float(_format(spec.get("against_scale", scale), values, at)),
                        attack=spec.get("attack", "cw"),
                        against_attack=spec.get("against_attack", spec.get("attack", "cw")),
                        eps=eps,
                        expect=spec["expect"],
                    )
                )
    return claims


def load_claims(path) -> Claims:
    import yaml

    with open(path) as handle:
        try:
            return parse_claims(yaml.safe_load(handle))
        except ClaimsError as error:
            raise ClaimsError(f"{path}: {error}") from None


def verdict(low: float, high: float, expect: str, margin: float) -> str:
    """Where the interval [low, high] of cell minus against lies, for the direction claimed.

    >>> verdict(0.01, 0.05, "higher", 0.02), verdict(-0.01, 0.01, "higher", 0.02)
    ('holds', 'does not hold')
    >>> verdict(-0.05, -0.01, "higher", 0.02), verdict(-0.01, 0.04, "higher", 0.02)
    ('opposite', 'cannot tell')
    >>> verdict(0.001, 0.01, "higher", 0.02), verdict(-0.09, 0.019, "higher", 0.02)  # no gain of note
    ('does not hold', 'does not hold')
    >>> verdict(-0.01, 0.01, "level", 0.02), verdict(0.03, 0.06, "level", 0.02), verdict(0.01, 0.04, "level", 0.02)
    ('holds', 'does not hold', 'cannot tell')
    >>> verdict(-0.09, 0.01, "not_higher", 0.02), verdict(-0.03, 0.01, "not_lower", 0.02)
    ('holds', 'cannot tell')
    """
    if expect == "lower":
        return verdict(-high, -low, "higher", margin)
    if expect == "not_higher":
        return verdict(-high, -low, "not_lower", margin)
    inside_margin = -margin < low and high < margin
    if expect == "higher":  # an interval below the margin rules out a gain of note
        if low > 0 and not inside_margin:
            return HOLDS
        if high < 0 and not inside_margin:
            return OPPOSITE
        return NOT_HOLDS if high < margin else CANNOT_TELL
    if expect == "not_lower":
        if low > -margin:
            return HOLDS
        return NOT_HOLDS if high < -margin else CANNOT_TELL
    if inside_margin:  # level: refuted only by an interval wholly beyond the margin
        return HOLDS
    return NOT_HOLDS if low > margin or high < -margin else CANNOT_TELL


# Student's t, two-sided 95%, by degrees of freedom (beyond the table: the normal's 1.96)
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def student_t_975(degrees: int) -> float:
    """The 97.5% quantile of Student's t with `degrees` degrees of freedom.

    >>> student_t_975(2), student_t_975(50)
    (4.303, 1.96)
    """
    return T_975.get(degrees, 1.96)


def claim_verdict(verdicts: list[str]) -> str:
    """A claim's verdict on one dataset from its comparisons': the same for all; in part where
    some hold and others do not; does not hold where none holds and some do not hold or are
    opposite (the rest cannot tell).

    >>> claim_verdict(["holds", "holds"]), claim_verdict(["holds", "cannot tell"])
    ('holds', 'in part')
    >>> claim_verdict(["opposite", "cannot tell"]), claim_verdict(["cannot tell", "cannot tell"])
    ('does not hold', 'cannot tell')
    """
    kinds = set(verdicts)
    if len(kinds) == 1:
        return verdicts[0]
    return IN_PART if HOLDS in kinds else NOT_HOLDS


def _decode(row) -> np.ndarray | None:
    from aedefense.report.results import IMAGES_CORRECT, decode_counts

    text = row.get(IMAGES_CORRECT)
    if not isinstance(text, str) or not text:
        return None
    return decode_counts(text, int(row["draws"])) / int(row["draws"])


def pooled_by_dataset(spread: pd.DataFrame) -> dict[tuple, float]:
    """(dataset, kind of model, clean or not) -> the root mean square of the seed std of the
    points with several training seeds: the spread a one-seed curve of that kind borrows."""
    if spread.empty:
        return {}
    groups = spread.groupby([spread["dataset"], spread["kind"], spread["eps"] == 0])["accuracy_seed_std"]
    return {key: root_mean_square(values) for key, values in groups}


class Judge:
    """The claims judged on one run's accuracy table (all seeds) and latent table."""

    def __init__(self, claims: Claims, accuracy: pd.DataFrame, latent: pd.DataFrame | None = None):
        self.claims = claims
        self.decision = claims.decision
        self.accuracy = accuracy.assign(replicate=accuracy.get("replicate", 0)).fillna({"replicate": 0})
        if FIGURE_COLUMN not in self.accuracy:
            self.accuracy[FIGURE_COLUMN] = ""
        self.all_rows = self.accuracy
        self.accuracy = self.accuracy.drop_duplicates(["dataset", "cell", "replicate", "attack", "scale", "eps"])
        self.latent = latent
        spread = seed_spread(self.accuracy)
        self.spread = spread.set_index(["dataset", "cell", "attack", "scale", "eps"]) if len(spread) else None
        self.pooled = pooled_by_dataset(spread)

    def _curve(self, dataset, cell, attack, scale, figure="") -> pd.DataFrame:
        """One curve's rows (clean, then each attacked eps, every seed): from the table of
        `figure` where several tables hold it (runs made figure by figure may differ), else
        from the first table that has it."""
        own = self.all_rows[self.all_rows[FIGURE_COLUMN] == figure]
        table = own if figure and (own["cell"] == cell).any() else self.accuracy
        mask = (table["dataset"] == dataset) & (table["cell"] == cell) & np.isclose(table["scale"], scale)
        attacked = table[mask & (table["attack"] == attack)]
        clean = table[mask & (table["attack"] == CLEAN) & (table["eps"] == 0)]
        return pd.concat([clean, attacked[attacked["eps"] > 0]])

    def _eps(self, comparison, dataset, curve, against) -> list[float]:
        shared = sorted(set(curve["eps"]) & set(against["eps"]))
        if isinstance(comparison.eps, tuple):
            return [e for e in comparison.eps if any(math.isclose(e, s) for s in shared)]
        attacked = [e for e in shared if e > 0]
        return attacked[-max(1, len(attacked) // 2) :] if comparison.eps == "large" else attacked

    def _seed_std(self, dataset, cell, attack, scale, eps, family) -> tuple[float, str]:
        """One curve's seed std at one point, and where it came from."""
        key = (dataset, cell, CLEAN if eps == 0 else attack, scale, eps)
        if self.spread is not None and key in self.spread.index:
            row = self.spread.loc[key]
            if row["training_seeds"] >= self.decision["seed_replicates"]:
                return float(row["accuracy_seed_std"]), f"own {int(row['training_seeds'])} seeds"
        kind, clean = kind_of(family, scale), eps == 0
        for key in ((dataset, kind, clean), (dataset, kind, False)):  # clean points borrow the attacked ones'
            if key in self.pooled:
                return self.pooled[key], f"pooled ({kind})"
        return self.decision["assumed_seed_std"], "assumed"

    # A curve's seed std is used where the pair has fewer than seed_replicates seeds in common;
    # the two curves' variances then add, as if their trainings were independent (they share
    # the classifier of their seed, so the difference usually moves less: the rule errs wide).

    def judge_accuracy(self, comparison: Comparison, dataset: str) -> list[dict]:
        curve = self._curve(dataset, comparison.cell, comparison.attack, comparison.scale, comparison.figure)
        against = self._curve(
            dataset, comparison.against, comparison.against_attack, comparison.against_scale, comparison.figure
        )
        if curve.empty or against.empty:
            return []
        eps_list = self._eps(comparison, dataset, curve, against)
        replicates = sorted(set(curve["replicate"]) & set(against["replicate"]))
        if not eps_list or not replicates:
            return []
        points, per_image = [], {}
        for eps in eps_list:
            point = self._point(comparison, dataset, curve, against, eps, replicates, per_image)
            points.append(point)
        summary = self._summary(comparison, dataset, points, eps_list, replicates, per_image)
        return [summary, *points] if len(points) > 1 else [summary]

    def _pair_rows(self, curve, against, eps, replicate):
        first = curve[(curve["eps"] == eps) & (curve["replicate"] == replicate)].iloc[0]
        second = against[(against["eps"] == eps) & (against["replicate"] == replicate)].iloc[0]
        return first, second

    def _point(self, comparison, dataset, curve, against, eps, replicates, per_image) -> dict:
        values, others, image_vars, paired = [], [], [], True
        for r in replicates:
            first, second = self._pair_rows(curve, against, eps, r)
            p, q, n = float(first["accuracy_mean"]), float(second["accuracy_mean"]), int(first["n_images"])
            values.append(p)
            others.append(q)
            a, b = _decode(first), _decode(second)
            if a is not None and b is not None and len(a) == len(b):
                difference = a - b
                per_image.setdefault(r, []).append(difference)
                image_vars.append(float(np.var(difference, ddof=1)) / len(difference))
            else:
                paired = False
                image_vars.append((p * (1 - p) + q * (1 - q)) / n)
        count = len(replicates)
        differences = [v - o for v, o in zip(values, others)]
        effect = float(np.mean(differences))
        if paired:  # the seeds share their images: each image's difference averaged over them first
            per_seed = np.stack([per_image[r][-1] for r in replicates])
            image_se = math.sqrt(float(np.var(per_seed.mean(axis=0), ddof=1)) / per_seed.shape[1])
        else:  # as if the seeds' errors moved together (they share the images): no division by them
            image_se = math.sqrt(float(np.mean(image_vars)))
        if count >= self.decision["seed_replicates"]:  # the pair's own seeds: the spread of the difference
            seed_std, source = float(np.std(differences, ddof=1)), f"pair's own {count} seeds"
        else:
            seed_a, source_a = self._seed_std(
                dataset, comparison.cell, comparison.attack, comparison.scale, eps, curve["family"].iloc[0]
            )
            seed_b, source_b = self._seed_std(
                dataset,
                comparison.against,
                comparison.against_attack,
                comparison.against_scale,
                eps,
                against["family"].iloc[0],
            )
            seed_std = math.sqrt(seed_a**2 + seed_b**2)
            source = source_a if source_a == source_b else f"{source_a}; {source_b}"
        row = self._row(
            comparison,
            dataset,
            "point",
            format_number(eps),
            count,
            int(first_n(curve)),
            paired,
            float(np.mean(values)),
            float(np.mean(others)),
            effect,
            image_se,
            seed_std,
            source,
        )
        return {**row, "_differences": differences}

    def _summary(self, comparison, dataset, points, eps_list, replicates, per_image) -> dict:
        """The comparison over its eps: the mean difference; its image error from the per-image
        mean over eps (the eps share their images, so their errors are not independent); its
        seed std the root mean square of the points' (as if the eps moved together)."""
        count = len(replicates)
        paired = all(p["paired"] for p in points)
        if paired:  # each image's difference averaged over the eps and the seeds, which share it
            per_image_mean = np.mean([np.mean(per_image[r], axis=0) for r in replicates], axis=0)
            image_se = math.sqrt(float(np.var(per_image_mean, ddof=1)) / len(per_image_mean))
        else:  # as if every eps moved together: the mean of the points' errors
            image_se = float(np.mean([p["image_se"] for p in points]))
        sources = sorted({p["seed_std_source"] for p in points})
        if count >= self.decision["seed_replicates"]:  # each seed's mean difference over the eps
            seed_std = float(np.std(np.mean([p["_differences"] for p in points], axis=0), ddof=1))
        else:
            seed_std = root_mean_square([p["seed_std"] for p in points])
        eps_text = (
            format_number(eps_list[0])
            if len(eps_list) == 1
            else f"{format_number(eps_list[0])}-{format_number(eps_list[-1])}"
        )
        return self._row(
            comparison,
            dataset,
            "comparison",
            eps_text,
            count,
            points[0]["n_images"],
            paired,
            float(np.mean([p["value"] for p in points])),
            float(np.mean([p["against_value"] for p in points])),
            float(np.mean([p["effect"] for p in points])),
            image_se,
            seed_std,
            "; ".join(sources),
        )

    def _row(
        self,
        comparison,
        dataset,
        level,
        eps,
        seeds,
        n,
        paired,
        value,
        other,
        effect,
        image_se,
        seed_std,
        source,
        margin=None,
    ):
        margin = self.decision["margin"] if margin is None else margin
        se = math.sqrt(image_se**2 + seed_std**2 / seeds)
        # a seed std measured on the pair's own few seeds is itself uncertain: Student's t with
        # seeds - 1 degrees of freedom for its part (4.30 for 3 seeds), z for the rest
        seed_quantile = student_t_975(seeds - 1) if source.startswith("pair's own") else self.decision["z"]
        half = math.sqrt((self.decision["z"] * image_se) ** 2 + (seed_quantile * seed_std) ** 2 / seeds)
        low, high = effect - half, effect + half
        return {
            "claim": comparison.claim,
            "by": comparison.by,
            "level": level,
            "dataset": dataset,
            "comparison": comparison.name,
            "figure": comparison.figure,
            "quantity": comparison.quantity,
            "cell": comparison.cell,
            "scale": comparison.scale,
            "attack": comparison.attack,
            "against": comparison.against,
            "against_scale": comparison.against_scale,
            "against_attack": comparison.against_attack,
            "eps": eps,
            "expect": comparison.expect,
            "training_seeds": seeds,
            "n_images": n,
            "paired": paired,
            "value": value,
            "against_value": other,
            "effect": effect,
            "image_se": image_se,
            "seed_std": seed_std,
            "seed_std_source": source,
            "se": se,
            "seed_quantile": seed_quantile,
            "interval_low": low,
            "interval_high": high,
            "margin": margin,
            "verdict": verdict(low, high, comparison.expect, margin),
            "says": comparison.says,
        }

    def judge_latent(self, comparison: Comparison, dataset: str) -> list[dict]:
        """A latent quantity (Fig. 5): the relative difference cell / against - 1, its error
        from the quantity's per-image standard error where the table has one (a diameter, a
        maximum over the set, has none), the seed spread assumed (no latent seeds measured)."""
        table = self.latent
        if table is None or table.empty:
            return []
        rows = {
            cell: table[(table["dataset"] == dataset) & (table["cell"] == cell)]
            for cell in (comparison.cell, comparison.against)
        }
        if any(r.empty for r in rows.values()):
            return []
        first, second = rows[comparison.cell].iloc[0], rows[comparison.against].iloc[0]
        a, b = float(first[comparison.quantity]), float(second[comparison.quantity])
        se_column = f"{comparison.quantity}_se"
        se_a = float(first[se_column]) if se_column in table else 0.0
        se_b = float(second[se_column]) if se_column in table else 0.0
        effect = a / b - 1
        image_se = math.sqrt((se_a / b) ** 2 + (a * se_b / b**2) ** 2)
        seed_std = math.sqrt(2) * self.decision["assumed_relative_seed_std"] * a / b
        return [
            self._row(
                comparison, dataset, "comparison", format_number(float(first["eps"])), 1, int(first["n_images"]),
                False, a, b, effect, image_se, seed_std, "assumed", self.decision["relative_margin"],
            )
        ]  # fmt: skip

    def rows(self, datasets) -> list[dict]:
        rows = []
        for _, group in itertools.groupby(self.claims.comparisons, key=lambda c: c.claim):
            group = list(group)
            for dataset in datasets:
                judged = []
                for comparison in group:
                    if dataset not in comparison.datasets:
                        continue
                    judge = self.judge_accuracy if comparison.quantity == ACCURACY else self.judge_latent
                    judged += judge(comparison, dataset)
                compared = [r for r in judged if r["level"] == "comparison"]
                if compared:
                    rows.append(claim_row(group[0], dataset, compared))
                    rows += judged
        return rows


def first_n(curve) -> int:
    return curve["n_images"].iloc[0]


def claim_row(comparison: Comparison, dataset: str, compared: list[dict]) -> dict:
    """One line per claim and dataset: its verdict from its comparisons', how many gave each
    verdict (in `comparison`), and the smallest and largest of their effects (in `effect_min`,
    `effect_max`)."""
    verdicts = [r["verdict"] for r in compared]
    counts = ", ".join(f"{verdicts.count(v)} {v}" for v in (HOLDS, NOT_HOLDS, OPPOSITE, CANNOT_TELL) if v in verdicts)
    row = dict.fromkeys(COLUMNS, None)
    row.update(
        claim=comparison.claim,
        by=comparison.by,
        level="claim",
        dataset=dataset,
        comparison=f"{len(compared)} comparison{'s' if len(compared) != 1 else ''}: {counts}",
        figure=",".join(sorted({r["figure"] for r in compared})),
        quantity=",".join(sorted({r["quantity"] for r in compared})),
        training_seeds=min(r["training_seeds"] for r in compared),
        n_images=min(r["n_images"] for r in compared),
        paired=all(r["paired"] for r in compared),
        effect_min=min(r["effect"] for r in compared),
        effect_max=max(r["effect"] for r in compared),
        seed_std_source="; ".join(sorted({s for r in compared for s in r["seed_std_source"].split("; ")})),
        verdict=claim_verdict(verdicts),
        says=comparison.says,
    )
    return row


def judge(claims: Claims, accuracy: pd.DataFrame, latent: pd.DataFrame | None, datasets) -> pd.DataFrame:
    """claims.csv's rows: per claim and dataset a `claim` line, then each comparison (over its
    eps) followed by its points (one eps each)."""
    return pd.DataFrame(Judge(claims, accuracy, latent).rows(datasets), columns=COLUMNS)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def verdict_line(row) -> str:
    """A claim line as the README gives it: `**in part**: 3 of 16 comparisons hold, 13 cannot
    tell; effects -1.7 to +35.0 pts`."""
    text = row["comparison"].split(": ", 1)[1]
    counts = {verdict: int(number) for number, verdict in (p.split(" ", 1) for p in text.split(", "))}
    total = sum(counts.values())
    rest = ", ".join(f"{n} {v}" for v, n in counts.items() if v != HOLDS)
    held = f"{counts.get(HOLDS, 0)} of {_plural(total, 'comparison')} hold"
    unit = " pts" if row["quantity"] == ACCURACY else "%"
    low, high = 100 * row["effect_min"], 100 * row["effect_max"]
    effects = f"{low:+.1f}{unit}" if math.isclose(low, high) else f"{low:+.1f} to {high:+.1f}{unit}"
    return f"**{row['verdict']}**: {held}{', ' + rest if rest else ''}; effects {effects}"


def markdown_table(columns: dict[str, pd.DataFrame], claims: Claims) -> str:
    """The README's claims table: one row per claim, one column per labelled claims.csv, each
    cell the claim's verdict on every dataset of that file."""
    header = ["the claim", "by", *columns]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for claim_id in dict.fromkeys(c.claim for c in claims.comparisons):
        first = next(c for c in claims.comparisons if c.claim == claim_id)
        cells = []
        for table in columns.values():
            rows = table[(table["claim"] == claim_id) & (table["level"] == "claim")]
            cells.append("<br>".join(f"{r['dataset']}: {verdict_line(r)}" for _, r in rows.iterrows()) or "not judged")
        says = re.sub(r"\s+", " ", first.says)
        lines.append(f"| {claim_id}: {says} | {first.by} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def comparisons_table(table: pd.DataFrame) -> str:
    """Every comparison of a claims.csv as a markdown table: the docs' verdict lines."""
    lines = [
        "| claim | dataset | comparison | eps | effect (pts or %) | 95% interval | seed spread from | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for _, row in table[table["level"] == "comparison"].iterrows():
        lines.append(
            f"| {row['claim']} | {row['dataset']} | {row['comparison']} (expected {row['expect'].replace('_', ' ')}) "
            f"| {row['eps']} | {100 * row['effect']:+.1f} | {100 * row['interval_low']:+.1f} to "
            f"{100 * row['interval_high']:+.1f} | {row['seed_std_source']} | {row['verdict']} |"
        )
    return "\n".join(lines)


def replace_block(text: str, begin: str, end: str, block: str, where: str) -> str:
    """text with what lies between the lines `begin` and `end` replaced by block."""
    if begin not in text or end not in text:
        raise ClaimsError(f"{where} has no generated block: add the lines {begin!r} and {end!r}")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{block}\n{end}{tail}"


def read_any_table(path) -> pd.DataFrame:
    """A table this workflow wrote: checked against its row checksums where it has them
    (tables committed before the checksums were added are read as they are)."""
    from aedefense.report.results import CHECKSUM, read_table

    with open(path) as handle:
        header = handle.readline()
    if CHECKSUM in header.split(","):
        return read_table(path)
    return pd.read_csv(path)


def figure_of_table(path) -> str:
    """'fig4' for accuracy_fig4.csv; '' for a table of the whole run (accuracy.csv)."""
    stem = Path(path).stem
    return stem.split("_", 1)[1] if stem.startswith("accuracy_") else ""


def judge_tables(claims_path, accuracy_paths, latent_paths, datasets, dest=None, allow_empty=False) -> pd.DataFrame:
    """claims.csv from a claims file and a run's figure tables (accuracy_<figure>.csv) and
    latent tables; written to dest (with the inputs' sha256 on every row) when given.
    allow_empty: a grid without any compared curve gives a table of no rows, not an error."""
    from aedefense.files.provenance import lineage_json
    from aedefense.report.results import write_table

    claims = load_claims(claims_path)
    accuracy = pd.concat(
        [read_any_table(p).assign(**{FIGURE_COLUMN: figure_of_table(p)}) for p in accuracy_paths], ignore_index=True
    )
    latent = pd.concat([read_any_table(p) for p in latent_paths], ignore_index=True) if latent_paths else None
    table = judge(claims, accuracy, latent, datasets)
    if table.empty and not allow_empty:
        raise ClaimsError(
            f"no claim of {claims_path} could be judged on {', '.join(map(str, accuracy_paths))}: "
            "the tables hold none of the compared curves"
        )
    if dest is not None:
        inputs = [claims_path, *accuracy_paths, *latent_paths]
        write_table(table.assign(inputs_sha256=lineage_json(inputs)), dest)
    return table


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        description="Judge the claims of a claims file on accuracy and latent tables (what rule claims does, "
        "for tables made elsewhere, e.g. committed ones) and write claims.csv."
    )
    parser.add_argument("--claims", required=True, help="a claims file, e.g. workflow/claims.yaml")
    parser.add_argument("--accuracy", nargs="+", required=True, help="accuracy tables (accuracy_<figure>.csv)")
    parser.add_argument("--latent", nargs="*", default=[], help="latent tables (latent.csv)")
    parser.add_argument("--datasets", nargs="+", required=True, help="the datasets to judge, e.g. mnist")
    parser.add_argument("--out", required=True, help="where to write claims.csv")
    args = parser.parse_args(argv)
    try:
        table = judge_tables(args.claims, args.accuracy, args.latent, args.datasets, args.out)
    except (ClaimsError, OSError) as error:
        parser.exit(2, f"error: {error}\n")
    for _, row in table[table["level"] == "claim"].iterrows():
        print(f"{row['dataset']:14} {row['claim']:25} {row['verdict']:13} {row['comparison']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
