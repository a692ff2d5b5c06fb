"""Rules accuracy_table, latent_table: one-row CSVs -> one tidy table. For accuracy also the
sanity checks over every curve (sanity.csv; failing rows flagged in sanity_flags) and the
summary over training seeds (one row per setting)."""

from aedefense.jobs.runtime import job
from aedefense.report.results import (
    ACCURACY_ORDER,
    LATENT_ORDER,
    collect,
    concatenate,
    over_training_seeds,
    write_table,
)
from aedefense.report.sanity import write_checked_table

with job(snakemake):
    if snakemake.params.kind == "latent":
        table = collect(snakemake.input, snakemake.output.table, LATENT_ORDER)
        print(f"{snakemake.output.table}: {len(table)} rows from {len(snakemake.input)} files")
    else:
        table = concatenate(snakemake.input, ACCURACY_ORDER, snakemake.params.rows)
        flagged = write_checked_table(table, snakemake.params.sanity, snakemake.output.table, snakemake.output.sanity)
        summary = over_training_seeds(flagged)
        write_table(summary, snakemake.output.summary)
        print(f"{snakemake.output.summary}: {len(summary)} settings from {len(snakemake.input)} files")
