"""Rule contract: run a user defence (config `defences:`) once on a few test images on the
job's device and check its contract (aedefense/core/defences.py: shape, dtype, range, finite,
device, seeded, stochastic as declared, gradients as declared), each call within
defence_time_limit_s. Its attacks and evaluations read
what it found; a broken contract stops here, before any attack, with every problem named."""

import sys

from aedefense.core import defences
from aedefense.data.prepared import load_prepared, to_unit
from aedefense.files.io import save_json
from aedefense.files.provenance import files_sha256, sha256_of
from aedefense.jobs.checkpoints import expected_model, load_classifier
from aedefense.jobs.runtime import job

# how long one call may take: read here, not in params, since it changes no result
TIME_LIMIT_S = snakemake.config["defence_time_limit_s"]

with job(snakemake) as timer:
    device = timer.device(snakemake.resources.device)
    entry, name, dataset = dict(snakemake.params.entry), snakemake.wildcards.defence, snakemake.wildcards.dataset
    where = f"defence {name} on {dataset} ({entry['callable']})"
    with timer.phase("load"):
        test = load_prepared(snakemake.input.test, dataset=dataset, split="test")
        x = to_unit(test["images"][: defences.CONTRACT_IMAGES]).to(device)
        classifier = None
        if "classifier" in snakemake.input.keys():  # a model that wraps the workflow's classifier
            test_sha256 = sha256_of(snakemake.input.test)
            expected = expected_model(dataset, "classifier", test_sha256)
            classifier = load_classifier(snakemake.input.classifier, expected)[0].to(device)
        try:
            function = defences.build(entry, defences.WORKFLOW_ROOT, device, classifier=classifier)
        except Exception as error:  # the user's factory may raise anything
            raise ValueError(
                f"{where}: its factory raised {type(error).__name__}: {error}. Fix the factory or the entry's "
                "settings under defences: in the config, then run again."
            ) from error
    with timer.phase("compute"):
        contract = defences.check_contract(
            defences.time_limited(function, TIME_LIMIT_S),
            x,
            returns=entry["returns"],
            classes=test["classes"],
            stochastic=entry["stochastic"],
            differentiable=entry["differentiable"],
        )
    where = f"{where[:-1]}, on {device})"
    for note in contract.notes:  # on the console, not only in the log: they say what to change
        print(f"{where}: note: {note}", file=sys.__stderr__, flush=True)
    if contract.problems:
        raise ValueError(
            f"{where} breaks its contract:\n  - "
            + "\n  - ".join(contract.problems)
            + "\nFix the defence or its entry under defences: in the config, then run again."
        )
    record = {
        "defence": name,
        "dataset": snakemake.wildcards.dataset,
        "entry": entry,
        "device": str(device),
        "images": len(x),
        **contract.as_record(),
        **{
            f"{key}_sha256": files_sha256(path) if key == "defence_files" else sha256_of(path)
            for key, path in snakemake.input.items()
            if key.startswith("defence_")
        },
    }
    with timer.phase("save"):
        save_json(record, snakemake.output[0])
    print(f"{where}: the contract holds; stochastic {contract.stochastic}, differentiable {contract.differentiable}")
    for note in contract.notes:
        print(f"note: {note}")
