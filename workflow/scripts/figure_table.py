"""Rule figure_table: the rows one accuracy figure plots, with the sanity checks run on them
(results/tables/sanity_<figure>.csv; failing rows flagged in sanity_flags)."""

from aedefense.jobs.runtime import job
from aedefense.report.results import ACCURACY_ORDER, concatenate
from aedefense.report.sanity import write_checked_table

with job(snakemake):
    table = concatenate(snakemake.input, ACCURACY_ORDER, snakemake.params.rows)
    write_checked_table(table, snakemake.params.sanity, snakemake.output.table, snakemake.output.sanity)
