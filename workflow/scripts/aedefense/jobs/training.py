"""Training loops for the classifier and the autoencoders, on CPU or CUDA, seeded.

The prepared uint8 images stay on the device and are scaled to [0, 1] a batch at a time;
batches are drawn with a seeded permutation, so a config gives the same model on the same
machine. With a resume path, the whole training state is saved after every epoch, and a job
killed mid-way (at a SLURM time limit, say) resumes from its last epoch with the result an
uninterrupted run gives.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.nn import functional as F

from aedefense.core import losses
from aedefense.core.models import Autoencoder, Classifier, build_autoencoder
from aedefense.data.prepared import to_unit
from aedefense.files.io import DamagedInput, load_torch, save_torch
from aedefense.jobs.runtime import about
from aedefense.jobs.setup import seed_everything
from aedefense.plan.cells import Cell


def training_job_inputs(snakemake, timer, name: str):
    """A training job's device, prepared splits (train, test), the identity its checkpoint
    records (model `name`), and its settings."""
    from aedefense.data.prepared import load_prepared
    from aedefense.jobs.checkpoints import model_identity

    device = timer.device(snakemake.resources.device)
    with timer.phase("load"):
        dataset = snakemake.wildcards.dataset
        data = {
            split: load_prepared(snakemake.input[split], dataset=dataset, split=split) for split in ("train", "test")
        }
        identity = model_identity(snakemake.wildcards.dataset, name, snakemake.input)
    return device, data, identity, dict(snakemake.params.settings)


def resume_path(model_path) -> Path:
    """Where a training job keeps its epoch checkpoint: a hidden file beside its model."""
    model_path = Path(model_path)
    return model_path.with_name(f".{model_path.name}.resume")


class EpochCheckpoint:
    """The training state after the last finished epoch: weights, optimiser, every random
    number generator the loop draws from, the step and the history. It is used only by a run
    with the same settings and the same inputs (`inputs`: what the model is trained on, such
    as the sha256 of the prepared data files); `path` None turns it off."""

    def __init__(self, path, settings: dict, inputs: dict | None, log: Callable[[str], None] = print):
        self.path = Path(path) if path is not None else None
        self.settings, self.inputs, self.log = settings, inputs, log

    def restore(self, model, optimiser, generators: dict) -> tuple[int, int, list]:
        """(epochs done, step, history): from the saved state where one fits, else (0, 0, [])."""
        if self.path is None:
            return 0, 0, []
        try:
            state = load_torch(self.path, "epoch checkpoint")
        except FileNotFoundError:
            return 0, 0, []
        except DamagedInput as error:
            self.log(f"not resuming: {error}")
            return 0, 0, []
        if state.get("settings") != self.settings:
            self.log(f"not resuming from {self.path}: it was made with other settings; training from scratch")
            return 0, 0, []
        if state.get("inputs") != self.inputs:
            changed = sorted(
                key
                for key in {*(state.get("inputs") or {}), *(self.inputs or {})}
                if (state.get("inputs") or {}).get(key) != (self.inputs or {}).get(key)
            )
            self.log(
                f"not resuming from {self.path}: it was trained on other inputs (changed: {', '.join(changed)}); "
                "training from scratch"
            )
            return 0, 0, []
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        for name, generator in generators.items():
            generator.set_state(state["generators"][name])
        torch.set_rng_state(state["torch_rng"])
        if torch.cuda.is_available() and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.log(f"resuming after epoch {state['epoch']} from {self.path}")
        return state["epoch"], state["step"], state["history"]

    def save(self, epoch: int, step: int, history: list, model, optimiser, generators: dict) -> None:
        if self.path is None:
            return
        state = {
            "settings": self.settings,
            "inputs": self.inputs,
            "epoch": epoch,
            "step": step,
            "history": history,
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "optimiser": optimiser.state_dict(),
            "generators": {name: g.get_state() for name, g in generators.items()},
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }
        save_torch(state, self.path)

    def remove(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def batches(n: int, batch_size: int, generator: torch.Generator | None):
    """Index batches over n items: shuffled with `generator`, in order without one."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


@torch.no_grad()
def accuracy(model, images, labels, batch_size=1000) -> float:
    model.eval()
    correct = 0
    for index in batches(len(labels), batch_size, None):
        logits = model(to_unit(images[index]))
        correct += int((logits.argmax(1) == labels[index]).sum())
    return correct / len(labels)


def train_classifier(
    data: dict, settings: dict, device, log: Callable[[str], None] = print, resume=None, inputs: dict | None = None
):
    """data: {'train': prepared record, 'test': prepared record}; settings: config slice;
    resume: the epoch checkpoint's path (None: none); inputs: what the data is (the sha256 of
    its files), so that a checkpoint of other data is not resumed from."""
    seed_everything(settings["seed"], device)
    train_x, train_y = data["train"]["images"].to(device), data["train"]["labels"].to(device)
    test_x, test_y = data["test"]["images"].to(device), data["test"]["labels"].to(device)
    model = Classifier(
        tuple(train_x.shape[1:]),
        data["train"]["classes"],
        blocks=settings["blocks"],
        channels=settings["channels"],
        dense=settings["dense"],
        dropout=settings["dropout"],
    ).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"])
    shuffle = torch.Generator().manual_seed(settings["seed"])
    checkpoint = EpochCheckpoint(resume, settings, inputs, log)
    done, _, history = checkpoint.restore(model, optimiser, {"shuffle": shuffle})
    for epoch in range(done + 1, settings["epochs"] + 1):
        start, model = time.perf_counter(), model.train()
        total_loss = torch.zeros((), device=device)
        for index in batches(len(train_y), settings["batch_size"], shuffle):
            index = index.to(device)
            loss = F.cross_entropy(model(to_unit(train_x[index])), train_y[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total_loss += loss.detach() * len(index)
        test_accuracy = accuracy(model, test_x, test_y)
        row = {
            "epoch": epoch,
            "train_loss": float(total_loss) / len(train_y),
            "test_accuracy": test_accuracy,
            "seconds": time.perf_counter() - start,
        }
        history.append(row)
        checkpoint.save(epoch, 0, history, model, optimiser, {"shuffle": shuffle})
        log(
            f"epoch {epoch}/{settings['epochs']}: loss {row['train_loss']:.4f}, "
            f"test accuracy {test_accuracy:.4f}, {row['seconds']:.1f} s, "
            f"{about((settings['epochs'] - epoch) * row['seconds'])} left"
        )
    metrics = {"test_accuracy": history[-1]["test_accuracy"], "history": history}
    checkpoint.remove()
    return model.eval(), metrics


def autoencoder_loss(model: Autoencoder, x_in, target, kl_scale: float):
    """(total loss, terms) for one batch without the contractive penalty."""
    mu, logvar = model.encode(x_in)
    if not model.variational:
        mean, _ = model.decode(mu)
        reconstruction = losses.squared_error(target, mean)
        return reconstruction, {"reconstruction": reconstruction}
    z = model.latent(mu, logvar, scale=1.0)
    if model.likelihood == "gaussian":
        mean, logvar_x = model.decode(z)
        reconstruction = losses.gaussian_nll(target, mean, logvar_x)
    else:
        logits, _ = model.decode_logits(z)
        reconstruction = losses.bernoulli_nll(target, logits)
    kl = losses.kl_to_standard_normal(mu, logvar)
    return reconstruction + kl_scale * kl, {"reconstruction": reconstruction, "kl": kl}


def contracted_code(model: Autoencoder) -> Callable[[torch.Tensor], torch.Tensor]:
    """h, the map the contractive penalty is on: the code (AE) or the posterior mean (VAE)."""
    return lambda x: model.encode(x)[0]


def contractive_penalty(model: Autoencoder, x_in, settings: dict, generator=None):
    """||d h / d x||_F^2 (h: contracted_code), exact or by its projection estimate."""
    if settings["contractive"] == "exact":
        return losses.contractive_exact(contracted_code(model), x_in)
    return losses.contractive_projection(contracted_code(model), x_in, settings["contractive_projections"], generator)


# Test images on which a contractive cell's exact penalty is measured after training: the
# exact Jacobian costs about a training step's time per image on a CPU.
CONTRACTIVE_TEST_IMAGES = 500


def exact_contractive_penalty(model: Autoencoder, images, batch_size: int = 50) -> float:
    """The mean exact ||d h / d x||_F^2 (h: contracted_code) over clean images (unit range),
    whichever estimate trained the model: what the penalty reached."""
    model.eval()
    total = 0.0
    with torch.enable_grad():
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size]
            total += float(losses.contractive_exact(contracted_code(model), x).detach()) * len(x)
    return total / len(images)


@torch.no_grad()
def evaluate_autoencoder(model: Autoencoder, images, cell: Cell, seed: int, batch_size=500):
    """Clean reconstruction error (1/2 ||x - x_hat||^2 with z = mu) and, for a VAE, the
    ELBO terms on the test set (the input noise of training is applied, seeded); for a
    contractive cell, the exact penalty on the first CONTRACTIVE_TEST_IMAGES clean images."""
    model.eval()
    noise = torch.Generator(device=images.device).manual_seed(seed)
    sums = {"reconstruction_error": 0.0}
    if model.variational:
        sums.update({"reconstruction_nll": 0.0, "kl": 0.0})
    for index in batches(len(images), batch_size, None):
        x = to_unit(images[index])
        mean, _ = model.decode(model.encode(x)[0])
        sums["reconstruction_error"] += float(losses.squared_error(x, mean)) * len(index)
        if model.variational:
            x_in, target = losses.training_pair(x, cell.stp, cell.denoising, noise)
            _, terms = autoencoder_loss(model, x_in, target, kl_scale=1.0)
            sums["reconstruction_nll"] += float(terms["reconstruction"]) * len(index)
            sums["kl"] += float(terms["kl"]) * len(index)
    metrics = {name: value / len(images) for name, value in sums.items()}
    if model.variational:
        metrics["elbo"] = -(metrics["reconstruction_nll"] + metrics["kl"])
    if cell.alpha > 0:
        metrics["contractive_exact"] = exact_contractive_penalty(model, to_unit(images[:CONTRACTIVE_TEST_IMAGES]))
    return metrics


def train_autoencoder(
    data: dict,
    cell: Cell,
    settings: dict,
    device,
    log: Callable[[str], None] = print,
    resume=None,
    inputs: dict | None = None,
    after_epoch: Callable[[int, Autoencoder], None] | None = None,
):
    """Train one cell; settings: the autoencoder config slice after per-cell overrides;
    resume, inputs: as for train_classifier; after_epoch(epoch, model), if given, is called
    after each epoch (a study of the model along its training; it must leave the model as
    it found it)."""
    seed_everything(settings["seed"], device)
    train_x = data["train"]["images"].to(device)
    model = build_autoencoder(tuple(train_x.shape[1:]), cell.family, settings).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"])
    shuffle = torch.Generator().manual_seed(settings["seed"])
    noise = torch.Generator(device=device).manual_seed(settings["seed"] + 1)
    steps_per_epoch = -(-len(train_x) // settings["batch_size"])
    generators = {"shuffle": shuffle, "noise": noise}
    checkpoint = EpochCheckpoint(resume, settings, inputs, log)
    done, step, history = checkpoint.restore(model, optimiser, generators)
    for epoch in range(done + 1, settings["epochs"] + 1):
        start, model = time.perf_counter(), model.train()
        sums: dict[str, torch.Tensor] = {}
        for index in batches(len(train_x), settings["batch_size"], shuffle):
            x = to_unit(train_x[index.to(device)])
            x_in, target = losses.training_pair(x, cell.stp, cell.denoising, noise)
            kl_scale = (
                losses.kl_weight(step, steps_per_epoch, settings["kl_warmup_epochs"]) if model.variational else 0.0
            )
            loss, terms = autoencoder_loss(model, x_in, target, kl_scale)
            if cell.alpha > 0:
                terms["contractive"] = contractive_penalty(model, x_in, settings, noise)
                loss = loss + cell.alpha * terms["contractive"]
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            step += 1
            terms["loss"] = loss
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + value.detach() * len(index)
        row = {name: float(value) / len(train_x) for name, value in sums.items()}
        row.update(epoch=epoch, seconds=time.perf_counter() - start)
        history.append(row)
        checkpoint.save(epoch, step, history, model, optimiser, generators)
        log(
            f"epoch {epoch}/{settings['epochs']}: "
            + ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k not in ("epoch", "seconds"))
            + f", {row['seconds']:.1f} s, {about((settings['epochs'] - epoch) * row['seconds'])} left"
        )
        if after_epoch is not None:
            after_epoch(epoch, model)
    test_x = data["test"]["images"].to(device)
    metrics = evaluate_autoencoder(model, test_x, cell, settings["seed"])
    log("test: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    metrics["history"] = history
    checkpoint.remove()
    return model.eval(), metrics
