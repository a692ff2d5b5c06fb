"""Rule prepare: verified raw files -> results/{dataset}/data/{train,test}.pt."""

from pathlib import Path

from aedefense.data.prepared import prepare
from aedefense.jobs.runtime import job

with job(snakemake) as timer:
    with timer.phase("compute"):  # reading, decoding and writing are one pass here
        records = prepare(
            snakemake.wildcards.dataset,
            Path(snakemake.input[0]).parent,
            {"train": snakemake.output.train, "test": snakemake.output.test},
            expected=snakemake.params.expected or None,
        )
    for split, record in records.items():
        labels = record["labels"]
        print(
            f"{record['dataset']} {split}: {len(labels)} images of shape "
            f"{tuple(record['images'].shape[1:])}, {int(labels.unique().numel())} classes present"
        )
