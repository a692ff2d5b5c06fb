"""The workflow's models and attacks from Python, the way the field's libraries offer them:
load a trained model by name from a run, attack it with config.yaml's settings as defaults,
and evaluate robust accuracy over several eps in one call (AutoAttack's standard evaluation:
each attack in turn on the images the ones before did not fool).

    from aedefense import load_model, load_test_images, robust_accuracy

    model = load_model("runs/quick", "mnist", "ae_d1_stp0.4_a0")  # a run directory
    x, y = load_test_images("runs/quick", "mnist", count=100)
    table = robust_accuracy(model, x, y, eps=[0.1, 0.2, 0.3])  # prints as it goes

`attack(model, x, y, "pgd", eps=0.1, steps=100)` runs one attack, its settings those of
attacks.pgd in config.yaml with the keywords given on top.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

STANDARD = ("apgdce", "apgdt", "square")  # AutoAttack's standard version, in its order


@functools.cache
def attack_defaults() -> dict[str, dict]:
    """Every attack of config.yaml (`attacks`) with its settings, by name."""
    import yaml

    from aedefense.core.defences import WORKFLOW_ROOT

    with open(Path(WORKFLOW_ROOT) / "config.yaml") as handle:
        return yaml.safe_load(handle)["attacks"]


def attack_settings(name: str, eps: float, **overrides) -> dict:
    """The settings of attack `name` (config.yaml's, the keywords on top) at `eps`.

    >>> attack_settings("pgd", 0.1, steps=100)["steps"], attack_settings("pgd", 0.1)["steps"]
    (100, 40)
    """
    defaults = attack_defaults()
    if name not in defaults:
        raise ValueError(f"no attack named {name!r}; the attacks: {', '.join(sorted(defaults))}")
    settings = dict(defaults[name])
    if settings["method"] == "suite":
        raise ValueError(
            f"{name!r} is a protocol of attacks: call robust_accuracy(..., attacks={settings['standard']})"
        )
    unknown = sorted(set(overrides) - set(settings) - {"batch_size"})
    if unknown:
        raise TypeError(
            f"attack {name!r} takes no argument {', '.join(map(repr, unknown))}; "
            f"its arguments: {', '.join(sorted(k for k in settings if k != 'method'))}"
        )
    return {**settings, **overrides, "eps": float(eps)}


def attack(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    name: str = "pgd",
    *,
    eps: float,
    seed: int = 0,
    **overrides,
):
    """Attack `name` (pgd, cw, bim, deepfool, apgdce, apgdt, apgddlr, square, ... as in
    config.yaml) at `eps` (L-infinity, pixels in [0, 1]); keywords override its settings.
    Returns an AttackResult (adversarial images, success per image, norms).

    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)).eval()
    >>> x, y = torch.rand(6, 1, 2, 2), torch.zeros(6, dtype=torch.long)
    >>> result = attack(model, x, y, "pgd", eps=0.05, steps=5)
    >>> bool((result.adversarial - x).abs().max() <= 0.05 + 1e-6)
    True
    """
    from aedefense.core.attacks import attack_in_batches

    return attack_in_batches(model, images, labels, attack_settings(name, eps, **overrides), seed=seed)


def _correct(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat(
            [
                model(images[i : i + batch_size]).argmax(1) == labels[i : i + batch_size]
                for i in range(0, len(images), batch_size)
            ]
        )


def robust_accuracy(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float | Iterable[float],
    *,
    attacks: Iterable[str] | dict[str, dict] = STANDARD,
    seed: int = 0,
    verbose: bool = True,
):
    """Clean accuracy, then at each eps the robust accuracy after each attack in turn, each run
    on the images that neither the clean pass nor an attack before it got wrong, as AutoAttack's
    standard evaluation does (its three attacks by default). `attacks`: names, or a dict of
    name -> keyword overrides (e.g. {"apgdce": {"steps": 20}, "square": {"queries": 500}}).
    Prints each line as it is measured (verbose) and returns a table: one row per eps and
    attack with the accuracy left after it (`robust_accuracy`, the worst case so far) and the
    image count, first a row for the clean accuracy (eps 0).

    A model that draws at random on every pass (a VAE at latent scale > 0) needs the EOT
    attacks (attacks=["apgdceeot", "apgddlreot"]); the plain ones overstate its robustness.

    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
    >>> x = torch.rand(8, 1, 2, 2)
    >>> y = model(x).argmax(1)
    >>> table = robust_accuracy(model, x, y, [0.01], attacks={"apgdce": {"steps": 5}}, verbose=False)
    >>> list(table["attack"]), float(table["robust_accuracy"].iloc[0])
    (['clean', 'apgdce'], 1.0)
    """
    import pandas as pd

    from aedefense.report.results import wilson_interval

    plan = dict(attacks) if isinstance(attacks, dict) else {name: {} for name in attacks}
    if not plan:
        raise ValueError("attacks is empty: name at least one, e.g. attacks=['apgdce']")
    eps_list = [float(eps)] if isinstance(eps, (int, float)) else [float(e) for e in eps]
    for name, overrides in plan.items():
        attack_settings(name, eps_list[0] if eps_list else 0.0, **overrides)  # every name and keyword, before work
    device = next((p.device for p in model.parameters()), images.device)
    images, labels = images.to(device), labels.to(device)
    n = len(labels)
    clean = _correct(model, images, labels)
    rows = [{"eps": 0.0, "attack": "clean", "robust_accuracy": float(clean.float().mean()), "n_images": n}]
    say = print if verbose else (lambda *_: None)
    say(f"clean accuracy: {100 * rows[0]['robust_accuracy']:.2f}% (n = {n})")
    for value in eps_list:
        robust = clean.clone()
        parts = []
        for name, overrides in plan.items():
            todo = robust.nonzero().squeeze(1)
            if len(todo):
                found = attack(model, images[todo], labels[todo], name, eps=value, seed=seed, **overrides)
                robust[todo[found.success]] = False
            accuracy = float(robust.float().mean())
            rows.append({"eps": value, "attack": name, "robust_accuracy": accuracy, "n_images": n})
            parts.append(f"{name} {100 * accuracy:.2f}%")
        low, high = wilson_interval(accuracy, n)
        say(
            f"eps {value:g}: {', '.join(parts)} -> robust accuracy {100 * accuracy:.2f}% "
            f"(95%: {100 * low:.1f}-{100 * high:.1f})"
        )
    return pd.DataFrame(rows)


def _run_results(run: str | Path, dataset: str) -> Path:
    """results/<dataset> of a run directory (or of a results/ folder given as such)."""
    run = Path(run)
    folder = run / "results" / dataset if (run / "results").is_dir() else run / dataset
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} does not exist: give the run's directory (the one holding results/)")
    return folder


def load_model(
    run: str | Path, dataset: str, cell: str = "none", *, scale: float = 0.0, seed: int = 0, device="cpu"
) -> nn.Module:
    """A trained model of a run by name, in eval mode on `device`: the undefended classifier
    (cell "none") or an autoencoder cell in front of it (e.g. "ae_d1_stp0.4_a0",
    "vae_d0_stp0.1_a1"); `seed` r > 0 the models of training seed r (classifier_r<r>.pt,
    <cell>_r<r>). `scale`: a VAE's latent sampling scale (0: the mean code, deterministic)."""
    from aedefense.core.models import DefendedModel
    from aedefense.jobs.checkpoints import load_autoencoder, load_classifier
    from aedefense.plan.cells import cell_from_name, replicate_name

    folder = _run_results(run, dataset)
    classifier_path = folder / f"{replicate_name('classifier', seed)}.pt"
    if not classifier_path.is_file():
        raise FileNotFoundError(f"{classifier_path} is missing: that run trained no classifier for seed {seed}")
    classifier, _ = load_classifier(classifier_path)
    if cell == "none":
        return classifier.to(device).eval()
    name = cell_from_name(cell).canonical().name
    autoencoder_path = folder / "ae" / replicate_name(name, seed) / "model.pt"
    if not autoencoder_path.is_file():
        trained = sorted(p.parent.name for p in (folder / "ae").glob("*/model.pt"))
        raise FileNotFoundError(
            f"{autoencoder_path} is missing; the cells this run trained: {', '.join(trained) or 'none'}"
        )
    autoencoder, _ = load_autoencoder(autoencoder_path)
    return DefendedModel(classifier, autoencoder, "sample", float(scale)).to(device).eval()


def load_test_images(run: str | Path, dataset: str, count: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(images in [0, 1], labels) of a run's prepared test split: the first `count` (all where
    None), the images the workflow attacks on MNIST and Fashion-MNIST."""
    from aedefense.data.prepared import load_prepared, to_unit

    test = load_prepared(_run_results(run, dataset) / "data" / "test.pt", dataset=dataset, split="test")
    stop = len(test["labels"]) if count is None else int(count)
    return to_unit(test["images"][:stop]), test["labels"][:stop]
