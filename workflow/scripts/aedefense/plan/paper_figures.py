"""The paper's figures, one record each: what a figure draws, the cell setting its curves run
along, how its panel rows are labelled and its title. Torch-free: the plan (which figures
exist), the config check (the `figures` block and the names comparison figures may not take
are filled from here), the Snakefile's targets and the figure code read it. A figure like the
paper's accuracy figures is a record here and its grid in config.yaml (docs/extending.md).

>>> PAPER_FIGURES["fig3"].curves, ACCURACY_FIGURES
('scale', ('fig1', 'fig2', 'fig3', 'fig4'))
>>> PAPER_FIGURES["fig2"].title.format(stp="0.1", scale="1")
'VAE and DVAE, by training noise stp (latent scale 1)'
"""

from __future__ import annotations

from dataclasses import dataclass

ACCURACY = "accuracy"  # accuracy against eps, one panel row per cell family (rule accuracy_figure)
LATENT = "latent"  # the latent-space measures against stp (rule latent_figure)


@dataclass(frozen=True)
class PaperFigure:
    name: str
    kind: str  # ACCURACY or LATENT
    # the cell setting that varies along an accuracy figure's curves: stp, scale or alpha
    curves: str = ""
    # after "Accuracy under the CW attack: "; {stp} and {scale} are the figure grid's first values
    title: str = ""
    # its panel rows are the contractive cells of each family (CAE, CVAE), not AE and DAE
    contractive_rows: bool = False


PAPER_FIGURES = {
    record.name: record
    for record in (
        PaperFigure("fig1", ACCURACY, "stp", "AE and DAE, by training noise stp"),
        PaperFigure("fig2", ACCURACY, "stp", "VAE and DVAE, by training noise stp (latent scale {scale})"),
        PaperFigure("fig3", ACCURACY, "scale", "VAE and DVAE at stp {stp}, by latent scale"),
        PaperFigure("fig4", ACCURACY, "alpha", "CAE and CVAE at stp {stp}, by contractive alpha", True),
        PaperFigure("fig5", LATENT),
    )
}
FIGURES = tuple(PAPER_FIGURES)
ACCURACY_FIGURES = tuple(name for name, record in PAPER_FIGURES.items() if record.kind == ACCURACY)
LATENT_FIGURE = next(name for name, record in PAPER_FIGURES.items() if record.kind == LATENT)
