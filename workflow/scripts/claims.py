"""Rule claims: workflow/claims.yaml judged on the figures' tables -> results/tables/claims.csv."""

from aedefense.jobs.runtime import job
from aedefense.report.claims import judge_tables

with job(snakemake):
    table = judge_tables(
        snakemake.input.claims,
        snakemake.input.accuracy,
        snakemake.input.latent,
        snakemake.params.datasets,
        snakemake.output.table,
        allow_empty=True,  # a grid of other cells than the claims compare: said below, not an error
    )
    if table.empty:
        print("No claim could be judged: the run's figures hold none of the curves workflow/claims.yaml compares.")
    judged = table[table["level"] == "claim"]
    for _, row in judged.iterrows():
        print(f"{row['dataset']:14} {row['claim']:25} {row['verdict']:13} {row['comparison']}")
