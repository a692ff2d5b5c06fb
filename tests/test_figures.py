"""What the figures draw from a table: one curve per attack in the figure's order; Fig. 5's
curves and legend."""

import pandas as pd

from aedefense.plan.names import UNDEFENDED
from aedefense.report.figures import (
    accuracy_figure,
    attack_curves,
    latent_figure,
    latent_rows,
    stacked_figure_rows,
)


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


def test_attacks_outside_the_order_come_last_by_name_and_every_attack_has_its_own_look(tmp_path, monkeypatch):
    curves = attack_curves(rows(["bim", "pgd", "cw"]), "x", "cw", ["cw", "pgd"])
    assert list(dict.fromkeys(curves["curve_attack"])) == ["cw", "pgd", "bim"]
    attacks = ["cw", "pgd", "bim", "deepfool", "worst"]  # the most a shipped figure draws
    fig = kept_figure(
        monkeypatch,
        lambda: accuracy_figure(
            grid_table({"fig1": FIG1}, attacks),
            name="fig1_attacks",
            layouts=["fig1"],
            grids={"fig1": FIG1},
            attacks=attacks,
            datasets=["mnist"],
            style=STYLE,
            pdf=tmp_path / "f.pdf",
            png=tmp_path / "f.png",
        ),
    )
    looks = {}  # attack -> the (line style, marker) of its curves
    for line in fig.axes[0].get_lines():
        if line.get_label().startswith("stp"):
            attack = line.get_label().partition(", ")[2] or "CW"
            looks.setdefault(attack, set()).add((line.get_linestyle(), line.get_marker()))
    assert sorted(looks) == ["BIM", "CW", "DEEPFOOL", "PGD", "WORST"]
    assert all(len(look) == 1 for look in looks.values())  # one look per attack
    assert len(set.union(*looks.values())) == 5  # and no two attacks alike


STYLE = {"context": "paper", "font_scale": 1.0, "palette": "viridis", "panel_width": 3.0, "panel_height": 2.5}
STYLE["png_dpi"] = 50


def kept_figure(monkeypatch, draw):
    """The matplotlib figure that draw() makes, kept open to be looked at."""
    import matplotlib.pyplot as plt

    kept = []
    monkeypatch.setattr(plt, "close", kept.append)
    draw()
    monkeypatch.undo()
    (fig,) = kept
    plt.close(fig)  # closed for pyplot, still there to be read
    return fig


def grid_table(grids, attacks):
    """An accuracy table over every point of the given figure grids: clean 0.9, and each attack
    at eps 0.1 and 0.3 leaving 0.6 and 0.2 of 100 images."""
    from aedefense.plan.grid import grid_points
    from aedefense.report.results import wilson_interval

    settings = {(UNDEFENDED, 0.0)} | {(c.canonical().name, s) for g in grids.values() for c, s in grid_points(g)}
    records = []
    for cell, scale in sorted(settings):
        points = [("clean", 0.0, 0.9)] + [(a, e, p) for a in attacks for e, p in ((0.1, 0.6), (0.3, 0.2))]
        for attack, eps, accuracy in points:
            low, high = wilson_interval(accuracy, 100)
            records.append(
                dict(dataset="mnist", cell=cell, attack=attack, scale=scale, eps=eps, accuracy_mean=accuracy)
                | dict(n_images=100, draws=1, accuracy_min=accuracy, accuracy_max=accuracy)
                | dict(accuracy_ci_low=low, accuracy_ci_high=high)
            )
    return pd.DataFrame(records)


FIG1 = {"families": ["ae"], "denoising": [0, 1], "stp": [0.0, 0.4], "alpha": [0.0], "scales": [0.0]}
FIG2 = {"families": ["vae"], "denoising": [0, 1], "stp": [0.0, 0.4], "alpha": [0.0], "scales": [1.0]}
FIG3 = {"families": ["vae"], "denoising": [0, 1], "stp": [0.4], "alpha": [0.0], "scales": [1.0, 2.0]}
FIG4 = {"families": ["ae", "vae"], "denoising": [0], "stp": [0.1], "alpha": [0.0, 1.0], "scales": [1.0]}


def test_a_figure_over_cell_families_stacks_the_panels_of_its_paper_figures():
    grids = {"fig1": FIG1, "fig2": FIG2, "fig4": FIG4}
    table = grid_table(grids, ["cw", "suite"])
    rows = stacked_figure_rows(table, grids, "cw", ["cw", "suite"])
    assert list(dict.fromkeys(rows["panel"])) == ["AE", "DAE", "VAE", "DVAE", "CAE", "CVAE"]
    cae = rows[rows["panel"] == "CAE"]
    assert set(cae["curve"]) == {"alpha 0", "alpha 0, SUITE", "alpha 1", "alpha 1, SUITE"}
    assert set(cae["cell"]) == {"ae_d0_stp0.1_a0", "ae_d0_stp0.1_a1"}
    dvae = rows[rows["panel"] == "DVAE"]
    # denoising on at stp 0 is the model trained as denoising off
    assert set(dvae["cell"]) == {"vae_d0_stp0_a0", "vae_d1_stp0.4_a0"} and set(dvae["scale"]) == {1.0}
    # two paper figures with the same rows: the later one's panels say which figure they are
    both = stacked_figure_rows(grid_table({"fig2": FIG2, "fig3": FIG3}, ["cw"]), {"fig2": FIG2, "fig3": FIG3}, "cw")
    assert list(dict.fromkeys(both["panel"])) == ["VAE", "DVAE", "VAE (fig3)", "DVAE (fig3)"]


def test_a_figure_over_cell_families_is_drawn(tmp_path):
    grids = {"fig1": FIG1, "fig4": FIG4}
    style = {"context": "paper", "font_scale": 1.0, "palette": "viridis", "panel_width": 3.0}
    style |= {"panel_height": 2.5, "png_dpi": 50}
    pdf, png = tmp_path / "suite.pdf", tmp_path / "suite.png"
    table = grid_table(grids, ["cw", "pgd", "suite"])
    accuracy_figure(
        table,
        name="suite",
        layouts=["fig1", "fig4"],
        grids=grids,
        attacks=["cw", "pgd", "suite"],
        datasets=["mnist"],
        style=style,
        pdf=pdf,
        png=png,
    )
    from PIL import Image

    height = Image.open(png).size[1]
    assert height > 0.9 * 4 * 2.5 * 50  # four panel rows (AE, DAE, CAE, CVAE) of 2.5 in at 50 dpi
    assert pdf.stat().st_size > 1000


def latent_table() -> pd.DataFrame:
    rows = []
    for family in ("ae", "vae"):
        for denoising, stps in ((0, (0.0, 0.2, 0.4)), (1, (0.2, 0.4))):
            for stp in stps:
                cosine = 0.9 + stp / 10 + denoising / 100 + (family == "vae") / 50
                rows.append(
                    dict(dataset="mnist", family=family, denoising=denoising, stp=stp, alpha=0.0, eps=0.2, attack="cw")
                    | dict(cosine=cosine, cosine_se=0.004, norm_ratio=cosine - 0.01, norm_ratio_se=0.002)
                )
    return pd.DataFrame(rows)


def test_fig5_starts_each_denoising_curve_from_the_plain_models_stp_0_point():
    latent = latent_table()
    rows = latent_rows(latent)
    assert len(rows) == len(latent) + 2  # the DAE's and the DVAE's stp 0 point
    for family in ("ae", "vae"):
        plain = rows[(rows["family"] == family) & (rows["denoising"] == 0) & (rows["stp"] == 0)]
        denoising = rows[(rows["family"] == family) & (rows["denoising"] == 1)].sort_values("stp")
        assert denoising["stp"].tolist() == [0.0, 0.2, 0.4]
        assert denoising["cosine"].iloc[0] == plain["cosine"].iloc[0] != denoising["cosine"].iloc[1]
    # a table that has the denoising model at stp 0 keeps its own point
    own = pd.concat([latent, latent.iloc[[0]].assign(denoising=1, cosine=0.5)], ignore_index=True)
    start = latent_rows(own).query("family == 'ae' and denoising == 1 and stp == 0")
    assert start["cosine"].tolist() == [0.5]
    # a figure without denoising models gets no denoising point
    plain = latent[latent["denoising"] == 0]
    assert len(latent_rows(plain)) == len(plain)


def test_fig5_draws_one_legend_for_the_figure(tmp_path, monkeypatch):
    pdf, png = tmp_path / "f.pdf", tmp_path / "f.png"
    fig = kept_figure(
        monkeypatch, lambda: latent_figure(latent_table(), datasets=["mnist"], style=STYLE, pdf=pdf, png=png)
    )
    lines = {bars.get_label(): bars.lines[0] for bars in fig.axes[0].containers}
    assert lines["DAE"].get_linestyle() == "--" and lines["AE"].get_linestyle() == "-"
    assert lines["AE"].get_color() == lines["DAE"].get_color() != lines["VAE"].get_color()
    assert all(ax.get_legend() is None for ax in fig.axes)
    (legend,) = fig.legends
    assert [text.get_text() for text in legend.get_texts()] == ["AE", "DAE", "VAE", "DVAE"]
    assert "CW" in fig._suptitle.get_text() and "d0/d1" not in fig._suptitle.get_text()


def test_a_figure_says_when_its_contractive_cells_were_trained_with_the_projection_estimate():
    from aedefense.report.figures import contractive_penalty_note

    cells = {"alpha": [0.0, 0.1, 1.0]}
    assert contractive_penalty_note(pd.DataFrame(dict(cells, ae_contractive=[None, "exact", "exact"]))) == ""
    assert contractive_penalty_note(pd.DataFrame(cells)) == ""  # no contractive cell in the table
    mixed = pd.DataFrame(dict(cells, ae_contractive=[None, "exact", "projection"]))
    assert contractive_penalty_note(mixed) == "contractive penalty: exact and projection estimate"
