"""Rule figure_table: the rows one accuracy figure plots, with the sanity checks run on them
(results/tables/sanity_<figure>.csv; failing rows flagged in sanity_flags)."""

from aedefense.jobs import job
from aedefense.results import ACCURACY_ORDER, concatenate, write_table
from aedefense.sanity import check_table, report_checks

with job(snakemake):
    table, checks = check_table(concatenate(snakemake.input, ACCURACY_ORDER), snakemake.params.sanity)
    write_table(checks, snakemake.output.sanity)
    write_table(table, snakemake.output.table)
    print(f"{snakemake.output.table}: {len(table)} rows")
    report_checks(snakemake.output.table, checks)
