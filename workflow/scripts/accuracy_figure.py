"""Rule accuracy_figure: Figs. 1-4 and the comparison figures from the figure's own table."""

import pandas as pd

from aedefense.figures import accuracy_figure
from aedefense.jobs import job

with job(snakemake):
    params = snakemake.params[0]
    table = pd.read_csv(snakemake.input[0])
    accuracy_figure(
        table, snakemake.wildcards.figure, params["layout"], params["grid"], params["attacks"], params["datasets"],
        params["style"], snakemake.output.pdf, snakemake.output.png,
    )
