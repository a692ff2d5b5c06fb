"""The package's public names: `from aedefense import ...` as its docstring shows."""

import textwrap

import pytest


def test_the_packages_public_names_import_and_its_example_runs():
    import aedefense

    for name in aedefense.__all__:
        assert getattr(aedefense, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        aedefense.nosuch  # noqa: B018
    doc = aedefense.__doc__
    start = doc.index("    import torch")
    example = textwrap.dedent(doc[start : doc.index("\n\nAn attack", start)])
    namespace = {}
    exec(example, namespace)  # the docstring's example, as a user would paste it
    assert 0.0 <= namespace["low"] <= namespace["accuracy"] <= namespace["high"] <= 1.0


@pytest.mark.parametrize(
    "module",
    [
        "aedefense.report.results",
        "aedefense.report.health",
        "aedefense.core.defences",
        "aedefense.core.models",
        "aedefense.core.attacks",
        "aedefense.core.apgd",
        "aedefense.core.square",
        "aedefense.core.box",
        "aedefense.plan.attack_specs",
        "aedefense.plan.families",
        "aedefense.plan.datasets",
        "aedefense.plan.paper_figures",
        "aedefense.plan.job_inputs",
        "aedefense.environment",
        "aedefense.report.figures",
        "aedefense.api",
        "aedefense.report.claims",
        "aedefense.report.summary",
        "aedefense.cost.status",
        "aedefense.report.results",
        "aedefense.plan.command_line",
        "aedefense.cost.projection",
        "aedefense.cost.rates",
        "aedefense.files.timings",
    ],
)
def test_the_examples_in_the_public_docstrings_run(module):
    import doctest
    import importlib

    failed, tried = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failed == 0


def _trained_run(tmp_path):
    """A run directory as the workflow leaves it: the prepared fixture splits (through the real
    prepare code), a classifier trained a few steps, and one AE cell, saved as the rules save."""
    import fixtures
    import torch

    from aedefense.core.models import Classifier, build_autoencoder
    from aedefense.data.prepared import load_prepared, prepare, to_unit
    from aedefense.jobs.checkpoints import save_checkpoint

    fixtures.write_idx_dataset(tmp_path / "mirror", "mnist", n_train=200, n_test=40)
    data = tmp_path / "run" / "results" / "mnist" / "data"
    data.mkdir(parents=True)
    prepare("mnist", tmp_path / "mirror" / "mnist", {"train": data / "train.pt", "test": data / "test.pt"})
    train = load_prepared(data / "train.pt")
    x, y = to_unit(train["images"]), train["labels"]
    torch.manual_seed(0)
    settings = {"in_shape": [1, 28, 28], "classes": 10, "blocks": 2, "channels": 8, "dense": 32, "dropout": 0.0}
    classifier = Classifier((1, 28, 28), 10, 2, 8, 32, 0.0)
    optimiser = torch.optim.Adam(classifier.parameters(), lr=3e-3)
    for _ in range(60):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(classifier(x), y).backward()
        optimiser.step()
    identity = {"dataset": "mnist", "name": "classifier", "train_sha256": "1" * 64, "test_sha256": "2" * 64}
    save_checkpoint(data.parent / "classifier.pt", "classifier", classifier.eval(), settings, identity)
    ae_settings = {"in_shape": [1, 28, 28], "family": "ae", "channels": 8, "latent_dim": 16}
    cell = data.parent / "ae" / "ae_d0_stp0.4_a0"
    cell.mkdir(parents=True)
    save_checkpoint(cell / "model.pt", "autoencoder", build_autoencoder((1, 28, 28), "ae", ae_settings), ae_settings,
                    {**identity, "name": "ae_d0_stp0.4_a0"})  # fmt: skip
    return tmp_path / "run", classifier


def test_a_runs_models_load_by_name_and_robust_accuracy_is_one_call(tmp_path, capsys):
    import torch

    from aedefense import attack, load_model, load_test_images, robust_accuracy

    run, trained = _trained_run(tmp_path)
    x, y = load_test_images(run, "mnist", count=30)
    assert x.shape == (30, 1, 28, 28) and float(x.max()) <= 1.0
    model = load_model(run, "mnist")  # the undefended classifier
    assert torch.equal(model(x), trained(x))
    table = robust_accuracy(model, x, y, [0.05, 0.3], attacks={"apgdce": {"steps": 10}, "square": {"queries": 30}})
    printed = capsys.readouterr().out
    clean = float((model(x).argmax(1) == y).float().mean())
    assert clean > 0.5  # the fixture classes are learned in a few steps
    assert f"clean accuracy: {100 * clean:.2f}% (n = 30)" in printed
    rows = table.set_index(["eps", "attack"])["robust_accuracy"]
    assert rows[(0.0, "clean")] == clean
    # the first attack's accuracy is that of the same attack run alone on the clean-correct images
    correct = (model(x).argmax(1) == y).nonzero().squeeze(1)
    alone = attack(model, x[correct], y[correct], "apgdce", eps=0.3, steps=10)
    assert rows[(0.3, "apgdce")] == (len(correct) - int(alone.success.sum())) / 30
    assert rows[(0.3, "square")] <= rows[(0.3, "apgdce")] <= rows[(0.05, "apgdce")] + 1 / 30
    assert "eps 0.3: apgdce" in printed and "-> robust accuracy" in printed
    defended = load_model(run, "mnist", "ae_d0_stp0.4_a0")
    assert defended(x).shape == (30, 10)


def test_api_mistakes_name_the_python_arguments(tmp_path):
    import torch

    from aedefense import attack, load_model, robust_accuracy

    run, _ = _trained_run(tmp_path)
    model = load_model(run, "mnist")
    x, y = torch.rand(2, 1, 28, 28), torch.zeros(2, dtype=torch.long)
    with pytest.raises(TypeError, match="attack 'pgd' takes no argument 'stepz'; its arguments: .*steps"):
        attack(model, x, y, "pgd", eps=0.1, stepz=3)
    with pytest.raises(ValueError, match="no attack named 'pgdd'; the attacks: .*pgd"):
        robust_accuracy(model, x, y, 0.1, attacks=["pgdd"])
    with pytest.raises(FileNotFoundError, match="the cells this run trained: ae_d0_stp0.4_a0"):
        load_model(run, "mnist", "ae_d1_stp0.4_a0")
    with pytest.raises(FileNotFoundError, match="give the run's directory"):
        load_model(tmp_path / "nowhere", "mnist")


def test_the_readmes_python_example_runs_on_a_run_directory(tmp_path, monkeypatch):
    """README.md's "From Python" block, pasted as a user would, on the fixture run (its cell
    and image count changed to the fixture's; the attacks' budgets cut to keep the test short)."""
    import copy

    from conftest import ROOT

    import aedefense.api

    defaults = copy.deepcopy(aedefense.api.attack_defaults())
    for name, cut in {"apgdce": {"steps": 5}, "apgdt": {"steps": 5, "targets": 2}, "square": {"queries": 20}}.items():
        defaults[name].update(cut)
    monkeypatch.setattr(aedefense.api, "attack_defaults", lambda: defaults)
    run, _ = _trained_run(tmp_path)
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## From Python")[1].split("```python\n")[1].split("```")[0]
    code = block.replace('"runs/quick"', repr(str(run))).replace("ae_d1_stp0.4_a0", "ae_d0_stp0.4_a0")
    code = code.replace("count=100", "count=10")
    namespace = {}
    exec(code, namespace)
    table = namespace["table"]
    assert list(table["attack"]) == ["clean"] + ["apgdce", "apgdt", "square"] * 3
    assert (table["n_images"] == 10).all() and table["robust_accuracy"].between(0, 1).all()
    assert namespace["result"].adversarial.shape == (10, 1, 28, 28)
