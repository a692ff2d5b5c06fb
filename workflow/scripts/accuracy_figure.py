"""Rule accuracy_figure: Figs. 1-4 and the comparison figures from the figure's own table."""

from aedefense.jobs.runtime import job
from aedefense.report.figures import accuracy_figure
from aedefense.report.results import read_table

with job(snakemake):
    params = snakemake.params
    accuracy_figure(
        read_table(snakemake.input[0]),
        name=snakemake.wildcards.figure,
        layouts=params.layouts,
        grids=params.grids,
        attacks=params.attacks,
        datasets=params.datasets,
        style=params.style,
        run=params.run,
        pdf=snakemake.output.pdf,
        png=snakemake.output.png,
    )
