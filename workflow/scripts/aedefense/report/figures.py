"""The paper's figures, drawn from the tidy tables only (restyling never reruns a computation).

Figs. 1-4: accuracy (%) against eps; one row per model variant, one column per dataset, one
curve per stp (Figs. 1-2), latent scale (Fig. 3) or contractive alpha (Fig. 4); the
undefended classifier as a reference curve, the reference attack (PGD) where it ran, and the
spread over training seeds as a band where there are several, and the 95% Wilson interval
over the attacked images as error bars. Fig. 5: cos(mu, mu*) and ||mu*|| / ||mu|| against
stp.
"""

from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402

from aedefense.plan.cells import cell_from_name, format_number, is_cell_name  # noqa: E402
from aedefense.plan.datasets import DATASETS  # noqa: E402
from aedefense.plan.families import FAMILIES, family  # noqa: E402
from aedefense.plan.grid import grid_points  # noqa: E402
from aedefense.plan.names import CLEAN, UNDEFENDED  # noqa: E402
from aedefense.plan.paper_figures import PAPER_FIGURES  # noqa: E402
from aedefense.report.results import over_training_seeds, training_seeds_note  # noqa: E402

# How a curve is labelled by the setting it runs along (its paper figure's `curves`)
CURVE_LABELS = {"stp": "stp {}", "scale": "scale {}", "alpha": "alpha {}"}


MARKERS = ["o", "s", "^", "v", "D", "P", "X", "*", "<", ">"]
# (line style, marker) of the figure's attacks in order: its main attack solid with dots
ATTACK_LOOKS = list(zip(["-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 1))], MARKERS))


def row_label(family_name: str, denoising: int, figure: str) -> str:
    if PAPER_FIGURES[figure].contractive_rows:
        return family(family_name).cell_label(denoising=False, contractive=True)
    return family(family_name).cell_label(denoising=bool(denoising))


def _apply(style: dict):
    sns.set_theme(context=style["context"], style="whitegrid", font_scale=style["font_scale"])


def _figsize(style: dict, rows: int, columns: int) -> tuple[float, float]:
    return style["panel_width"] * columns, style["panel_height"] * rows


def attack_curves(rows: pd.DataFrame, label: str, attack: str, order=()) -> pd.DataFrame:
    """One curve per attack that ran on these rows, each starting from the clean accuracy,
    the figure's attack first and the others in `order` (then by name); curves of attacks
    other than the figure's are marked `reference`."""
    clean = rows[rows["attack"] == CLEAN]
    pieces = []
    rank = {a: i for i, a in enumerate(order)}
    for other in sorted(set(rows["attack"]) - {CLEAN}, key=lambda a: (a != attack, rank.get(a, len(rank)), a)):
        suffix = "" if other == attack else f", {other.upper()}"
        piece = pd.concat([clean, rows[rows["attack"] == other]], ignore_index=True)
        pieces.append(piece.assign(curve=label + suffix, reference=other != attack, curve_attack=other))
    if not pieces:
        return rows.assign(curve=label, reference=False, curve_attack=attack)
    return pd.concat(pieces, ignore_index=True)


def figure_rows(table: pd.DataFrame, grid: dict, figure: str, attack: str, order=()) -> pd.DataFrame:
    """The rows of one accuracy figure with their panel row and curve. A grid cell with
    denoising on and stp 0 shows the model trained as denoising off."""
    key = PAPER_FIGURES[figure].curves
    pieces = []
    for cell, scale in grid_points(grid):
        rows = table[(table["cell"] == cell.canonical().name) & (table["scale"] == scale)]
        value = {"stp": cell.stp, "alpha": cell.alpha, "scale": scale}[key]
        label = CURVE_LABELS[key].format(format_number(value))
        curves = attack_curves(rows, label, attack, order)
        pieces.append(curves.assign(panel=row_label(cell.family, cell.denoising, figure), order=value))
    return pd.concat(pieces, ignore_index=True)


def stacked_figure_rows(table: pd.DataFrame, grids: dict, attack: str, order=()) -> pd.DataFrame:
    """figure_rows of each paper figure in `grids` (layout -> grid), their panels stacked in
    that order; a panel name a previous layout has taken gets the layout's name."""
    pieces, taken = [], set()
    for layout, grid in grids.items():
        rows = figure_rows(table, grid, layout, attack, order)
        panels = set(rows["panel"])
        rows["panel"] = [f"{p} ({layout})" if p in taken else p for p in rows["panel"]]
        taken |= panels
        pieces.append(rows)
    return pd.concat(pieces, ignore_index=True)


def accuracy_figure(
    table: pd.DataFrame,
    *,
    name: str,
    layouts: list,
    grids: dict,
    attacks: list,
    datasets,
    style: dict,
    pdf,
    png,
    run: str = "",
):
    """Figure `name` (written to `pdf` and `png`) with the panels and curves of the paper
    figures `layouts` (fig1-4; the paper figure itself for a paper figure; several stacked
    for a figure over cell families), the first of `attacks` drawn solid and each other
    attack in a line style and marker of its own; the undefended classifier in black."""
    _apply(style)
    attack = attacks[0]
    table = over_training_seeds(table[table["attack"].isin([CLEAN, *attacks])])
    flagged = int((table.get("sanity_flags", pd.Series(dtype=str)).fillna("") != "").sum())
    rows = stacked_figure_rows(table, {layout: grids[layout] for layout in layouts}, attack, attacks)
    undefended = table[table["cell"] == UNDEFENDED]
    panels = list(dict.fromkeys(rows["panel"]))
    base_curves = list(dict.fromkeys(rows[~rows["reference"]].sort_values("order")["curve"]))
    palette = dict(zip(base_curves, sns.color_palette(style["palette"], len(base_curves))))
    look = {a: ATTACK_LOOKS[i % len(ATTACK_LOOKS)] for i, a in enumerate(attacks)}
    dodge = {a: i * 0.012 * float(table["eps"].max() or 1) for i, a in enumerate(attacks)}
    fig, axes = plt.subplots(
        len(panels),
        len(datasets),
        figsize=_figsize(style, len(panels), len(datasets)),
        squeeze=False,
        sharey=True,
    )
    for i, panel in enumerate(panels):
        for j, dataset in enumerate(datasets):
            ax = axes[i][j]
            here = rows[(rows["panel"] == panel) & (rows["dataset"] == dataset)]
            for curve, data in here.groupby("curve", sort=False):
                base, curve_attack = curve.split(", ")[0], data["curve_attack"].iloc[0]
                color = palette.get(base, "grey")
                _draw(ax, data.sort_values("eps"), curve, color, *look[curve_attack], dodge=dodge[curve_attack])
            reference = attack_curves(undefended[undefended["dataset"] == dataset], "no defence", attack, attacks)
            for curve, data in reference.groupby("curve", sort=False):
                # under the figure's attack in black; under the others in grey, beneath the
                # black one, which it would hide where both reach zero
                curve_attack = data["curve_attack"].iloc[0]
                color, zorder = ("black", 2.5) if curve_attack == attack else ("grey", 1.5)
                _draw(
                    ax,
                    data.sort_values("eps"),
                    curve,
                    color,
                    *look[curve_attack],
                    zorder=zorder,
                    dodge=dodge[curve_attack],
                )
            ax.set_title(f"{panel}, {DATASETS[dataset].title}")
            ax.set_xlabel("epsilon (L-infinity)")
            ax.set_ylabel("accuracy (%)" if j == 0 else "")
            _accuracy_axis(ax)
    labels_seen = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            labels_seen.setdefault(label, handle)
    fig.legend(labels_seen.values(), labels_seen.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    drawn = table[table["cell"].isin(set(rows["cell"]))] if "cell" in rows else table
    notes = [note] if (note := training_seeds_note(drawn["training_seeds"])) else []
    notes += [penalty] if (penalty := contractive_penalty_note(drawn)) else []
    extra = _suptitle(fig, _title(name, layouts, attacks, grids) + (f" ({'; '.join(notes)})" if notes else ""))
    fig.tight_layout(rect=(0, 0, 1, 1 - extra / fig.get_figheight()))
    footer = [footer_text(table, run)]
    if flagged:
        footer.append(f"x: {flagged} point(s) failed a sanity check; see results/tables/sanity_{name}.csv")
    _footer(fig, footer, red_last=bool(flagged))
    _save(fig, pdf, png, style["png_dpi"])


def _accuracy_axis(ax):
    """0-100% with a labelled tick every 20 points and a light grid every 10."""
    from matplotlib.ticker import MultipleLocator

    ax.set_ylim(-2, 102)
    ax.yaxis.set_major_locator(MultipleLocator(20))
    ax.yaxis.set_minor_locator(MultipleLocator(10))
    ax.grid(True, which="both", axis="y", linewidth=0.4, alpha=0.4)


def footer_text(table: pd.DataFrame, run: str) -> str:
    """What every figure states under it: the attacked images per dataset and the config files.

    >>> footer_text(pd.DataFrame({"dataset": ["mnist"], "n_images": [1000]}), "config.yaml + presets/paper-mnist.yaml")
    'n = 1,000 attacked images (MNIST); config.yaml + presets/paper-mnist.yaml'
    """
    counts = table.groupby("dataset", sort=False)["n_images"].max() if "n_images" in table else pd.Series(dtype=int)
    if len(set(counts)) == 1:
        names = ", ".join(DATASETS[d].title if d in DATASETS else d for d in counts.index)
        n = f"n = {int(counts.iloc[0]):,} attacked images ({names})"
    else:
        n = "n = " + ", ".join(f"{int(v):,} ({DATASETS[d].title if d in DATASETS else d})" for d, v in counts.items())
    return "; ".join(part for part in (n if len(counts) else "", run) if part)


def _footer(fig, lines: list[str], red_last: bool = False):
    """Lines of small text under the panels (kept by the tight bounding box of _save)."""
    for i, line in enumerate(lines):
        red = red_last and i == len(lines) - 1
        fig.text(
            0.5, -0.01 - 0.035 * i, line, ha="center", va="top", color="red" if red else "dimgrey", fontsize="small"
        )


def _draw(ax, data, label, color, linestyle, marker, zorder=2, dodge=0.0):
    """One curve with its Wilson error bars; `dodge` shifts it along eps so that curves of
    several attacks that agree (the undefended classifier at zero) stay visible side by side."""
    if data.empty:
        return
    x, mean = data["eps"] + dodge, 100 * data["accuracy_mean"]
    ax.plot(x, mean, label=label, color=color, linestyle=linestyle, marker=marker, markersize=5, zorder=zorder)
    ax.errorbar(
        x,
        mean,
        yerr=[mean - 100 * data["accuracy_ci_low"], 100 * data["accuracy_ci_high"] - mean],
        fmt="none",
        ecolor=color,
        elinewidth=0.7,
        capsize=2,
        alpha=0.6,
    )
    if "sanity_flags" in data:
        bad = data["sanity_flags"].fillna("") != ""
        ax.plot(x[bad], mean[bad], linestyle="none", marker="x", color="red", markersize=7)
    # The spread over training seeds. Latent draws get no band: their error of the mean
    # (accuracy_draw_se) is small beside the Wilson interval, and a min-max over draws
    # widens with their number.
    if (data["training_seeds"] > 1).any():
        low, high = data["accuracy_seed_min"], data["accuracy_seed_max"]
        ax.fill_between(x, 100 * low, 100 * high, color=color, alpha=0.2, linewidth=0)


def contractive_penalty_note(table: pd.DataFrame) -> str:
    """How the figure's contractive cells were trained, where any was not with the paper's
    exact penalty: "contractive penalty: projection estimate" (empty otherwise).

    >>> contractive_penalty_note(pd.DataFrame({"alpha": [0.0, 1.0], "ae_contractive": [None, "projection"]}))
    'contractive penalty: projection estimate'
    """
    if "ae_contractive" not in table:
        return ""
    used = set(table.loc[table["alpha"] > 0, "ae_contractive"].dropna())
    if used <= {"exact"}:
        return ""
    return "contractive penalty: " + " and ".join(
        "projection estimate" if u == "projection" else u for u in sorted(used)
    )


def _title(name, layouts, attacks, grids):
    if len(layouts) == 1:
        figure, grid = layouts[0], grids[layouts[0]]
        what = PAPER_FIGURES[figure].title.format(
            stp=format_number(grid["stp"][0]), scale=format_number(grid["scales"][0])
        )
    else:
        what = f"the cells of {', '.join(f'Fig. {layout[3:]}' for layout in layouts)}, one row per cell family"
    if [name] == layouts:  # a paper figure: other attacks only as references
        return f"Accuracy under the {attacks[0].upper()} attack: {what}"
    others = ", ".join(a.upper() for a in attacks[1:])
    return f"Accuracy under {attacks[0].upper()} (solid) and {others}: {what}"


# Fig. 5's models: (label, family, denoising), drawn in the family's colour, dashed when denoising
LATENT_MODELS = [
    (record.cell_label(denoising=bool(denoising)), name, denoising)
    for name, record in FAMILIES.items()
    for denoising in (0, 1)
]
LATENT_MEASURES = [
    ("cosine", "cos(mu, mu*)"),
    ("norm_ratio", "||mu*|| / ||mu||"),
    ("clean_code_diameter", "diameter of the clean mu"),
    ("relative_displacement", "||mu* - mu|| / ||mu||"),
]


def latent_rows(latent: pd.DataFrame) -> pd.DataFrame:
    """Fig. 5's points. A denoising model trained at stp 0 has no noise to remove: it is the
    plain model, so the DAE and DVAE curves start from the AE's and VAE's stp 0 point."""
    start = latent[(latent["denoising"] == 0) & (latent["stp"] == 0)].assign(denoising=1)
    keys = ["dataset", "family", "alpha", "denoising", "stp"]
    have = set(latent[keys].itertuples(index=False, name=None))
    denoising = set(
        latent.loc[latent["denoising"] == 1, ["dataset", "family", "alpha"]].itertuples(index=False, name=None)
    )
    # only where the figure has denoising models of that family, and no point of their own at stp 0
    wanted = [k[:3] in denoising and k not in have for k in start[keys].itertuples(index=False, name=None)]
    start = start[wanted]
    return pd.concat([latent, start], ignore_index=True).sort_values(["dataset", "family", "denoising", "stp"])


def latent_figure(latent: pd.DataFrame, *, datasets, style: dict, pdf, png, run: str = ""):
    """Fig. 5: cos(mu, mu*) and ||mu*|| / ||mu|| against stp (the paper's two rows), then the
    two quantities its text quotes: the diameter of the clean codes and the relative
    displacement ||mu* - mu|| / ||mu||; one column per dataset; error bars the 95% interval
    of the mean over the attacked images (where the table has it; a diameter, a maximum over
    the set, has none)."""
    _apply(style)
    latent = latent_rows(latent)
    colours = dict(zip(FAMILIES, sns.color_palette(style["palette"], len(FAMILIES) + 1)))
    measures = [(column, label) for column, label in LATENT_MEASURES if column in latent]
    rows_count = len(measures)
    fig, axes = plt.subplots(
        rows_count, len(datasets), figsize=_figsize(style, rows_count, len(datasets)), squeeze=False
    )
    for j, dataset in enumerate(datasets):
        data = latent[latent["dataset"] == dataset]
        eps = format_number(data["eps"].iloc[0]) if len(data) else "?"
        for i, (column, label) in enumerate(measures):
            ax = axes[i][j]
            alphas = sorted(set(data["alpha"]))
            for (model, family_name, denoising), alpha in ((m, a) for m in LATENT_MODELS for a in alphas):
                rows = data[
                    (data["family"] == family_name) & (data["denoising"] == denoising) & (data["alpha"] == alpha)
                ]
                if rows.empty:
                    continue
                half = 1.96 * rows[f"{column}_se"] if f"{column}_se" in rows else None
                ax.errorbar(
                    rows["stp"],
                    rows[column],
                    yerr=half,
                    label=model if len(alphas) == 1 else f"{model}, alpha {format_number(alpha)}",
                    color=colours[family_name],
                    linestyle="--" if denoising else "-",
                    marker="s" if denoising else "o",
                    markersize=5,
                    capsize=2,
                    elinewidth=0.7,
                )
            ax.set_title(f"{DATASETS[dataset].title}, eps {eps}")
            ax.set_xlabel("training noise stp")
            ax.set_ylabel(label)
            ax.ticklabel_format(axis="y", useOffset=False)  # values near 1 read as they are
    handles = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(handles.values(), handles.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    attack = str(latent["attack"].iloc[0]).upper() if len(latent) else "?"
    extra = _suptitle(
        fig,
        f"Latent codes under the {attack} attack: clean mu against adversarial mu* (the paper's Fig. 5: the top "
        "two rows; below, the diameter and displacement its text quotes)",
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - extra / fig.get_figheight()))
    _footer(fig, [footer_text(latent, run)])
    _save(fig, pdf, png, style["png_dpi"])


def diameters(latent: pd.DataFrame) -> pd.DataFrame:
    """The code-set diameters per model, and the AE / VAE ratio the paper reports (about 3)."""
    columns = ["dataset", "family", "denoising", "stp", "eps", "clean_code_diameter", "relative_displacement"]
    return latent[columns].sort_values(["dataset", "family", "denoising", "stp"])


def _suptitle(fig, text: str) -> float:
    """Set the figure's title, wrapped to the figure's width at the title font's size (a title
    wider than the figure defeats the layout); return the height in inches that its lines
    beyond the first need above the panels."""
    size = FontProperties(size=plt.rcParams["figure.titlesize"]).get_size_in_points()
    characters_per_line = max(20, int(fig.get_figwidth() * 72 / (0.55 * size)))  # ~0.55 em a character
    wrapped = textwrap.fill(text, width=characters_per_line)
    fig.suptitle(wrapped)
    return 1.2 * size / 72 * wrapped.count("\n")


def _save(fig, dest_pdf, dest_png, png_dpi):
    from aedefense.files.io import atomic_path

    with atomic_path(dest_pdf) as tmp:
        fig.savefig(tmp, format="pdf", bbox_inches="tight")
    with atomic_path(dest_png) as tmp:
        fig.savefig(tmp, format="png", dpi=png_dpi, bbox_inches="tight")
    plt.close(fig)


def health_label(rows: pd.DataFrame) -> str:
    """A defence's health verdicts in a few words: 'health: pass', or the counts of failed
    and warned checks; 'health: none' where it has no rows."""
    verdicts = rows["verdict"].value_counts().to_dict()
    if not verdicts:
        return "health: none"
    bad = [f"{verdicts[v]} {v}" for v in ("fail", "warn") if verdicts.get(v)]
    return "health: " + (", ".join(bad) if bad else "pass")


def defence_label(cell: str, scale: float, labels: dict | None = None) -> str:
    """A defence's name in a legend: 'no defence', a cell as its family and settings ('DAE
    stp 0.4', 'CVAE stp 0.1 alpha 1, scale 1'), a user defence by its `label` (else its id).

    >>> defence_label("vae_d1_stp0.2_a0", 1.0), defence_label("ae_d0_stp0.1_a0.1", 0.0)
    ('DVAE stp 0.2, scale 1', 'CAE stp 0.1 alpha 0.1')
    """
    if cell == UNDEFENDED:
        return "no defence"
    if (labels or {}).get(cell):
        return labels[cell]
    if not is_cell_name(cell):
        return cell
    parsed = cell_from_name(cell)
    record = family(parsed.family)
    text = f"{record.cell_label(parsed.denoising, contractive=bool(parsed.alpha))} stp {format_number(parsed.stp)}"
    text += f" alpha {format_number(parsed.alpha)}" if parsed.alpha else ""
    return f"{text}, scale {format_number(scale)}" if record.variational else text


def defences_figure(
    table: pd.DataFrame,
    health: pd.DataFrame,
    *,
    attack: str,
    datasets,
    style: dict,
    pdf,
    png,
    run: str = "",
    labels: dict | None = None,
):
    """Every defence of the comparison under `attack`: one panel per dataset, one curve per
    defence (the undefended classifier in black), each labelled with its health verdicts;
    error bars the 95% Wilson interval, bands the spread over training seeds."""
    _apply(style)
    table = over_training_seeds(table[table["attack"].isin([CLEAN, attack])])
    defences = list(dict.fromkeys(zip(table["cell"], table["scale"])))
    # the undefended classifier, then the cells, then the user defences, each in table order
    defences.sort(key=lambda d: 0 if d[0] == UNDEFENDED else 1 if d[0].startswith(("ae_", "vae_")) else 2)
    palette = dict(zip(defences[1:], sns.color_palette(style["palette"], max(1, len(defences) - 1))))
    # neighbours in the palette look alike: each defence has a marker of its own as well
    markers = {defence: MARKERS[i % len(MARKERS)] for i, defence in enumerate(defences)}
    width, height = _figsize(style, 1, len(datasets))
    legend_height = 0.25 * len(defences) + 0.6  # inches, below each panel
    fig, axes = plt.subplots(1, len(datasets), figsize=(width, height + legend_height), squeeze=False, sharey=True)
    for ax, dataset in zip(axes[0], datasets):
        for cell, scale in defences:
            rows = table[(table["dataset"] == dataset) & (table["cell"] == cell) & (table["scale"] == scale)]
            if rows.empty:
                continue
            checked = health[(health["dataset"] == dataset) & (health["cell"] == cell) & (health["scale"] == scale)]
            label = f"{defence_label(cell, scale, labels)} ({health_label(checked)})"
            color = "black" if cell == UNDEFENDED else palette[(cell, scale)]
            _draw(ax, rows.sort_values("eps"), label, color, "-", markers[(cell, scale)])
        ax.set_title(DATASETS[dataset].title)
        ax.set_xlabel("epsilon (L-infinity)")
        _accuracy_axis(ax)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), fontsize="small", frameon=False)
    axes[0][0].set_ylabel("accuracy (%)")
    extra = _suptitle(fig, f"Every defence under {attack.upper()}, with its evaluation health")
    total = height + legend_height
    fig.subplots_adjust(bottom=(legend_height + 0.1) / total, top=1 - (0.7 + extra) / total, wspace=0.1)
    _footer(fig, [footer_text(table, run)])
    _save(fig, pdf, png, style["png_dpi"])
