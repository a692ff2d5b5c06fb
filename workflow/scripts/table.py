"""Rule table: the tidy tables results/tables/accuracy.csv and latent.csv."""

from aedefense.jobs import job
from aedefense.results import ACCURACY_ORDER, LATENT_ORDER, collect

with job(snakemake):
    accuracy = collect(snakemake.input.accuracy, snakemake.output.accuracy, ACCURACY_ORDER)
    latent = collect(snakemake.input.latent, snakemake.output.latent, LATENT_ORDER)
    print(f"accuracy.csv: {len(accuracy)} rows; latent.csv: {len(latent)} rows")
