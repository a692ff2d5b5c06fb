"""Rule train_classifier: prepared data -> results/{dataset}/classifier.pt + metrics."""

from aedefense import work
from aedefense.checkpoints import model_identity, save_checkpoint
from aedefense.data.prepared import load_prepared
from aedefense.io import save_json
from aedefense.jobs import job
from aedefense.training import resume_path, train_classifier

with job(snakemake) as timer:
    device = timer.device(snakemake.resources.device)
    with timer.phase("load"):
        data = {"train": load_prepared(snakemake.input.train), "test": load_prepared(snakemake.input.test)}
        identity = model_identity(snakemake.wildcards.dataset, snakemake.wildcards.classifier, snakemake.input)
    settings = dict(snakemake.params.settings)
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
