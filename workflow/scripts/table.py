"""Rules accuracy_table, latent_table: one-row CSVs -> one tidy table. For accuracy also the
sanity checks over every curve (sanity.csv; failing rows flagged in sanity_flags) and the
summary over training seeds (one row per setting)."""

from aedefense.jobs import job
from aedefense.results import ACCURACY_ORDER, LATENT_ORDER, collect, concatenate, over_training_seeds, write_table
from aedefense.sanity import check_table, report_checks

with job(snakemake):
    if snakemake.params.kind == "latent":
        table = collect(snakemake.input, snakemake.output.table, LATENT_ORDER)
        print(f"{snakemake.output.table}: {len(table)} rows from {len(snakemake.input)} files")
    else:
        table, checks = check_table(concatenate(snakemake.input, ACCURACY_ORDER), snakemake.params.sanity)
        write_table(checks, snakemake.output.sanity)
        write_table(table, snakemake.output.table)
        summary = over_training_seeds(table)
        write_table(summary, snakemake.output.summary)
        print(f"{snakemake.output.table}: {len(table)} rows from {len(snakemake.input)} files; "
              f"{snakemake.output.summary}: {len(summary)} settings")  # fmt: skip
        report_checks(snakemake.output.table, checks)
