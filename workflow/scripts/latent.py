"""Rule latent: how the figure attack moves the code (Fig. 5), for one (dataset, cell, eps)."""

from aedefense.cost import work
from aedefense.data.prepared import load_prepared, to_unit
from aedefense.files.provenance import sha256_of
from aedefense.jobs.adversarial import check_against_clean, load_adversarial_set, set_identity
from aedefense.jobs.checkpoints import expected_model, load_autoencoder
from aedefense.jobs.evaluation import latent_displacement
from aedefense.jobs.runtime import job
from aedefense.plan.job_inputs import ADVERSARIAL
from aedefense.report.results import cell_columns, write_rows

with job(snakemake) as timer:
    device = timer.device(snakemake.resources.device)
    dataset, cell, attack = snakemake.wildcards.dataset, snakemake.wildcards.defence, snakemake.wildcards.attack
    eps = float(snakemake.wildcards.eps)
    with timer.phase("load"):
        test_sha256 = sha256_of(snakemake.input.test)
        autoencoder, autoencoder_settings = load_autoencoder(
            snakemake.input.autoencoder,
            expected_model(dataset, cell, test_sha256, snakemake.params.models["autoencoder"]),
        )
        adversarial_path = snakemake.input[ADVERSARIAL]
        adversarial = load_adversarial_set(adversarial_path)
        test = load_prepared(snakemake.input.test, dataset=dataset, split="test")
        indices = adversarial["indices"]
        clean = to_unit(test["images"][indices])
        # no classifier among this job's inputs: its sha256 is not checked here
        sources = {"autoencoder_sha256": sha256_of(snakemake.input.autoencoder), "test_sha256": test_sha256}
        expected = set_identity(dataset, cell, attack, eps, None, sources)
        check_against_clean(adversarial, adversarial_path, expected, indices, clean, test["labels"][indices])
        clean = clean.to(device)
    with timer.phase("compute"):
        stats = latent_displacement(autoencoder.to(device), clean, adversarial["adversarial"].to(device))
    row = {"dataset": dataset, **cell_columns(cell, autoencoder_settings)}
    row.update(
        eps=eps,
        attack=attack,
        n_images=len(clean),
        seed_attack=adversarial["settings"].get("seed"),
        **stats,
    )
    with timer.phase("save"):
        write_rows([row], snakemake.output[0], inputs=snakemake.input)
    timer.work = {"unit": "image-encodings", "amount": work.latent(len(clean))}
    print(row)
