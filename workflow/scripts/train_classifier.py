"""Rule train_classifier: prepared data -> results/{dataset}/classifier.pt + metrics."""

from aedefense.cost import work
from aedefense.files.io import save_json
from aedefense.jobs.checkpoints import save_checkpoint
from aedefense.jobs.runtime import job
from aedefense.jobs.training import resume_path, train_classifier, training_job_inputs

with job(snakemake) as timer:
    device, data, identity, settings = training_job_inputs(snakemake, timer, snakemake.wildcards.classifier)
    print(f"training the {snakemake.wildcards.dataset} classifier on {device}: {settings}")
    with timer.phase("compute"):
        model, metrics = train_classifier(
            data, settings, device, resume=resume_path(snakemake.output.model), inputs=identity
        )  # a killed job resumes, if its settings and data are the same
    settings.update(in_shape=list(data["train"]["images"].shape[1:]), classes=data["train"]["classes"])
    with timer.phase("save"):
        save_checkpoint(snakemake.output.model, "classifier", model, settings, identity)
        save_json(dict(metrics, settings=settings, device=str(device)), snakemake.output.metrics)
    train_images = len(data["train"]["labels"])
    timer.work = {"unit": "image-steps", "amount": work.training(settings["epochs"], train_images)}
    timer.work["train_images"] = train_images
