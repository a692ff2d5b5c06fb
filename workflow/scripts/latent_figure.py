"""Rule latent_figure: Fig. 5 and the table of code-set diameters."""

from aedefense.jobs.runtime import job
from aedefense.report.figures import diameters, latent_figure
from aedefense.report.results import read_table, write_rows

with job(snakemake):
    latent = read_table(snakemake.input[0])
    latent_figure(
        latent,
        datasets=snakemake.params.datasets,
        style=snakemake.params.style,
        run=snakemake.params.run,
        pdf=snakemake.output.pdf,
        png=snakemake.output.png,
    )
    write_rows(diameters(latent).to_dict("records"), snakemake.output.diameters)
