"""Rule train_autoencoder: prepared data -> results/{dataset}/ae/{defence}/model.pt, metrics.json
and a reconstruction grid (clean, noisy input, reconstruction; a VAE adds one sampled row)."""

from aedefense.cost import work
from aedefense.files.io import save_json
from aedefense.jobs.checkpoints import save_checkpoint
from aedefense.jobs.runtime import job
from aedefense.jobs.training import resume_path, train_autoencoder, training_job_inputs
from aedefense.plan.cells import Cell
from aedefense.report.plots import save_reconstruction_grid

with job(snakemake) as timer:
    device, data, identity, settings = training_job_inputs(snakemake, timer, snakemake.wildcards.defence)
    # what the model is comes from its settings (params), not from its file name
    cell = Cell(settings["family"], bool(settings["denoising"]), settings["stp"], settings["alpha"])
    print(f"training {snakemake.wildcards.dataset}/{snakemake.wildcards.defence} on {device}: {settings}")
    with timer.phase("compute"):
        model, metrics = train_autoencoder(
            data, cell, settings, device, resume=resume_path(snakemake.output.model), inputs=identity
        )  # a killed job resumes, if its settings and data are the same
    settings["in_shape"] = list(data["train"]["images"].shape[1:])
    with timer.phase("save"):
        save_checkpoint(snakemake.output.model, "autoencoder", model, settings, identity)
        save_json(dict(metrics, settings=settings, device=str(device)), snakemake.output.metrics)
        save_reconstruction_grid(model, data["test"]["images"], cell, settings["seed"], snakemake.output.grid)
    penalty = settings.get("contractive", "none") if cell.alpha > 0 else "none"
    timer.work = {
        "unit": "image-steps",
        "amount": work.training(settings["epochs"], len(data["train"]["labels"])),
        "train_images": len(data["train"]["labels"]),
        "contractive": penalty,  # the exact penalty costs far more per image-step
    }
