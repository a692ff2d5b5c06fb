"""Rule defences_figure: every defence of the comparison under its attack, from the
comparison's table and each defence's health rows."""

import pandas as pd

from aedefense.jobs.runtime import job
from aedefense.report.figures import defences_figure
from aedefense.report.results import read_table

with job(snakemake):
    params = snakemake.params
    health = pd.concat([read_table(path, keep_default_na=False) for path in snakemake.input.health])
    health["scale"] = health["scale"].astype(float)
    defences_figure(
        read_table(snakemake.input.table),
        health,
        attack=params.attack,
        datasets=params.datasets,
        style=params.style,
        pdf=snakemake.output.pdf,
        png=snakemake.output.png,
    )
