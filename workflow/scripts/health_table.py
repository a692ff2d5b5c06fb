"""Rule health_table: every cell's health checks in one table, results/tables/health.csv."""

from aedefense.jobs.runtime import job
from aedefense.report.results import concatenate, write_table

with job(snakemake):
    table = concatenate(snakemake.input, order=["dataset", "cell", "scale"])
    write_table(table, snakemake.output[0])
    counts = table.groupby("verdict").size().to_dict()
    print(f"{len(table)} checks: {counts}")
