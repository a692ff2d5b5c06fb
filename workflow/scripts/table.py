"""Rules accuracy_table, figure_table, latent_table: one-row CSVs -> one tidy table."""

from aedefense.jobs import job
from aedefense.results import ACCURACY_ORDER, LATENT_ORDER, collect

with job(snakemake):
    order = {"accuracy": ACCURACY_ORDER, "latent": LATENT_ORDER}[snakemake.params.kind]
    table = collect(snakemake.input, snakemake.output[0], order)
    print(f"{snakemake.output[0]}: {len(table)} rows from {len(snakemake.input)} files")
