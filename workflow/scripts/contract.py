"""Rule contract: run a user defence (config `defences:`) once on a few test images on the
job's device and check its contract (aedefense/core/defences.py: shape, range, finite, device,
seeded, stochastic as declared, gradients as declared). Its attacks and evaluations read
what it found; a broken contract stops here, before any attack, with every problem named."""

from aedefense.core import defences
from aedefense.data.prepared import load_prepared, to_unit
from aedefense.jobs.io import save_json
from aedefense.jobs.provenance import sha256_of
from aedefense.jobs.runtime import job

with job(snakemake) as timer:
    device = timer.device(snakemake.resources.device)
    entry, name = dict(snakemake.params.entry), snakemake.wildcards.ae
    with timer.phase("load"):
        test = load_prepared(snakemake.input.test, dataset=snakemake.wildcards.dataset, split="test")
        x = to_unit(test["images"][: defences.CONTRACT_IMAGES]).to(device)
        function = defences.build(entry, defences.WORKFLOW_ROOT, device)
    with timer.phase("compute"):
        contract = defences.check_contract(
            function,
            x,
            returns=entry["returns"],
            classes=test["classes"],
            stochastic=entry["stochastic"],
            differentiable=entry["differentiable"],
        )
    where = f"defence {name} on {snakemake.wildcards.dataset} ({entry['callable']}, on {device})"
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
        **{f"{key}_sha256": sha256_of(path) for key, path in snakemake.input.items() if key.startswith("defence_")},
    }
    with timer.phase("save"):
        save_json(record, snakemake.output[0])
    print(f"{where}: the contract holds; stochastic {contract.stochastic}, differentiable {contract.differentiable}")
    for note in contract.notes:
        print(f"note: {note}")
