"""Rules attack and attack_adaptive: one adversarial set per (dataset, cell, attack, eps), on
the stacked model with VAE sampling off (z = mu); an adaptive (EOT) attack instead attacks the
defence as deployed, sampling at settings['scale'], one set per scale. Cell names.UNDEFENDED
is the undefended classifier; a defence of the user's own is attacked as its contract check
found it (EOT where it samples, BPDA where it is not differentiable)."""

import torch

from aedefense.core.attacks import attack_in_batches
from aedefense.core.models import InPieces, in_pieces_on_cpu
from aedefense.data.prepared import load_prepared, to_unit
from aedefense.jobs.adversarial import save_adversarial_set, set_identity
from aedefense.jobs.checkpoints import load_defence
from aedefense.jobs.evaluation import attacked_indices
from aedefense.jobs.runtime import Progress, job
from aedefense.jobs.setup import seed_everything
from aedefense.plan.attack_specs import work_of
from aedefense.plan.names import AUTO
from aedefense.plan.params import final_settings

with job(snakemake) as timer:
    device = timer.device(snakemake.resources.device)
    settings = dict(snakemake.params.settings)
    dataset, cell = snakemake.wildcards.dataset, snakemake.wildcards.defence
    with timer.phase("load"):
        test = load_prepared(snakemake.input.test, dataset=dataset, split="test")
        indices = attacked_indices(dataset, len(test["labels"]), settings["images"], settings.get("subset_seed", 0))
        x = to_unit(test["images"][indices]).to(device)
        y = test["labels"][indices].to(device)
        defence = load_defence(
            dict(snakemake.input.items()), dataset, cell, settings.get("defence"), snakemake.params.models
        )
        folded = timer.place(defence, device, snakemake.resources)
        if settings.get("stochastic") == AUTO:  # planned before anyone knew: its contract check says
            settings = final_settings(settings, defence.samples_at(settings.get("scale", 0.0)))
        seed = settings.get("seed", 0)
        if "scale" in settings:  # adaptive: the latent draws get their own stream, apart from PGD's start
            latent_generator = torch.Generator(device=device).manual_seed(seed + 1)
            model = defence.model(settings["scale"], latent_generator, attack=True)
        else:
            model = defence.model(attack=True)  # a VAE's mean code
        model = in_pieces_on_cpu(model.to(device), device, snakemake.resources.cpu_forward_batch)
    pieces = f", forwards in pieces of {model.size} images" if isinstance(model, InPieces) else ""
    print(f"attacking {dataset}/{cell} on {device}{pieces}{folded}: {settings}")
    with timer.phase("compute"):
        seed_everything(seed, device)
        result = attack_in_batches(model, x, y, settings, seed, progress=Progress("attacked images"))
        success, l2, linf = float(result.success.float().mean()), float(result.l2.mean()), float(result.linf.max())
    with timer.phase("save"):
        identity = set_identity(
            dataset, cell, settings["name"], settings["eps"], settings.get("scale"), defence.sources
        )
        save_adversarial_set(
            snakemake.output[0], identity=identity, settings=settings, indices=indices, labels=y, result=result
        )
    timer.work = {"unit": "image-iterations", "amount": work_of(settings, len(y))}
    print(f"{len(y)} images: success rate {success:.4f}, mean L2 {l2:.4f}, max L-inf {linf:.4f}")
