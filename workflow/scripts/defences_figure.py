"""Rule defences_figure: every defence of the comparison under its attack, from the
comparison's table and its health table (results/tables/health_defences.csv)."""

from aedefense.jobs.runtime import job
from aedefense.report.figures import defences_figure
from aedefense.report.results import read_table

with job(snakemake):
    params = snakemake.params
    health = read_table(snakemake.input.health, keep_default_na=False)
    health["scale"] = health["scale"].astype(float)
    defences_figure(
        read_table(snakemake.input.table),
        health,
        attack=params.attack,
        datasets=params.datasets,
        style=params.style,
        run=params.run,
        labels=params.labels,
        pdf=snakemake.output.pdf,
        png=snakemake.output.png,
    )
