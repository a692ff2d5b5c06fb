"""Rule latent: how the figure attack moves the code (Fig. 5), for one (dataset, cell, eps)."""

from aedefense.adversarial import load_adversarial_set
from aedefense.checkpoints import load_autoencoder
from aedefense.data.prepared import load_prepared, to_unit
from aedefense.evaluation import latent_displacement
from aedefense.jobs import job
from aedefense.results import cell_columns, write_rows

with job(snakemake) as timer:
    device = timer.device(snakemake.resources.device)
    with timer.phase("load"):
        autoencoder, autoencoder_settings = load_autoencoder(snakemake.input.autoencoder)
        adversarial = load_adversarial_set(snakemake.input.adversarial)
        test = load_prepared(snakemake.input.test)
        clean = to_unit(test["images"][adversarial["indices"]]).to(device)
    with timer.phase("compute"):
        stats = latent_displacement(autoencoder.to(device), clean, adversarial["adversarial"].to(device))
    row = {"dataset": snakemake.wildcards.dataset, **cell_columns(snakemake.wildcards.ae, autoencoder_settings)}
    row.update(
        eps=float(snakemake.wildcards.eps),
        attack=snakemake.wildcards.attack,
        n_images=len(clean),
        seed_attack=adversarial["settings"].get("seed"),
        **stats,
    )
    with timer.phase("save"):
        write_rows([row], snakemake.output[0])
    timer.work = {"unit": "image-encodings", "amount": 2 * len(clean)}
    print(row)
