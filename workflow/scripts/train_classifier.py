"""Rule train_classifier: prepared data -> results/{dataset}/classifier.pt + metrics."""

from aedefense.checkpoints import save_checkpoint
from aedefense.data.prepared import load_prepared
from aedefense.io import save_json
from aedefense.jobs import job
from aedefense.training import select_device, train_classifier

with job(snakemake):
    device = select_device(snakemake.params.device)
    data = {"train": load_prepared(snakemake.input.train), "test": load_prepared(snakemake.input.test)}
    settings = dict(snakemake.params.settings)
    print(f"training the {snakemake.wildcards.dataset} classifier on {device}: {settings}")
    model, metrics = train_classifier(data, settings, device)
    settings.update(in_shape=list(data["train"]["images"].shape[1:]), classes=data["train"]["classes"])
    save_checkpoint(snakemake.output.model, "classifier", model, settings)
    save_json(dict(metrics, settings=settings, device=str(device)), snakemake.output.metrics)
