"""Rule accuracy_figure: Figs. 1-4 and the comparison figures from the figure's own table."""

import pandas as pd

from aedefense.jobs.runtime import job
from aedefense.report.figures import accuracy_figure

with job(snakemake):
    params = snakemake.params
    accuracy_figure(
        pd.read_csv(snakemake.input[0]),
        name=snakemake.wildcards.figure,
        layouts=params.layouts,
        grids=params.grids,
        attacks=params.attacks,
        datasets=params.datasets,
        style=params.style,
        pdf=snakemake.output.pdf,
        png=snakemake.output.png,
    )
