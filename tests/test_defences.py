"""Defences of the user's own: loading the callable an entry names, the contract check with
each failure's message, BPDA on a quantiser and the randomised purifier's draws."""

import csv
import hashlib
import json
import re

import numpy
import pandas as pd
import pytest
import torch
from shared_helpers import PGD, accuracy_on

from aedefense.core import defences
from aedefense.core.attacks import attack_in_batches
from aedefense.report import health

ROOT = defences.Path(__file__).resolve().parents[1]


def entry(callable, **keys):
    base = {"callable": callable, "returns": "purifier", "datasets": ["mnist"], "stochastic": False}
    return base | {"differentiable": True} | keys


def build(callable, **settings):
    return defences.build(entry(callable, settings=settings), ROOT, torch.device("cpu"))


def contract_of(function, x, returns="purifier", stochastic=False, differentiable=True):
    return defences.check_contract(
        function, x, returns=returns, classes=10, stochastic=stochastic, differentiable=differentiable
    )


def test_a_callable_is_named_by_file_or_by_module():
    by_file = defences.parse_reference("examples/defences/bitdepth.py:bit_depth", ROOT)
    assert by_file.path == ROOT / "examples/defences/bitdepth.py" and by_file.name == "bit_depth"
    by_module = defences.parse_reference("torch.nn.functional:avg_pool2d", ROOT)
    assert by_module.module == "torch.nn.functional"
    assert defences.source_file(by_module).name == "functional.py"
    for bad in ("bitdepth.py", "examples/defences/bitdepth.py:", "my-package.x:f", ":f"):
        with pytest.raises(ValueError, match="is not of the form|neither a .py file"):
            defences.parse_reference(bad, ROOT)


def test_an_entry_that_cannot_load_is_refused_naming_the_defence_and_the_key(tmp_path):
    problems = defences.entry_problems("mine", entry("examples/defences/bitdepth.py:bit_dept"), ROOT)
    assert problems == [
        "defences.mine.callable: 'examples/defences/bitdepth.py:bit_dept' cannot be loaded: AttributeError: "
        f"{ROOT / 'examples/defences/bitdepth.py'} has no 'bit_dept'; it defines: bit_depth"
    ]
    (tmp_path / "broken.py").write_text("import not_a_module_anywhere\n")
    missing = entry(f"{tmp_path}/broken.py:f", checkpoint="weights/none.pt", bpda="no_such_package.x:f")
    problems = defences.entry_problems("mine", missing, ROOT)
    assert "defences.mine.callable:" in problems[0] and "No module named 'not_a_module_anywhere'" in problems[0]
    assert "defences.mine.bpda: 'no_such_package.x:f' cannot be loaded: ModuleNotFoundError" in problems[1]
    assert problems[2] == f"defences.mine.checkpoint: no such file: {ROOT / 'weights/none.pt'}"
    model = entry("examples/defences/bitdepth.py:bit_depth", returns="model", differentiable=False)
    assert (
        "defences.m.bpda: a whole model declared differentiable: false needs"
        in defences.entry_problems("m", model, ROOT)[0]
    )


def test_the_examples_keep_their_contract(trained):
    _, x, _ = trained
    quantiser = contract_of(build("examples/defences/bitdepth.py:bit_depth", bits=2), x, differentiable=False)
    assert quantiser.problems == [] and quantiser.stochastic is False
    noisy = contract_of(build("examples/defences/noisy_smoothing.py:noisy_smoothing"), x, stochastic="auto")
    assert noisy.problems == [] and noisy.stochastic is True and noisy.zero_gradient_share == 0


@pytest.mark.parametrize(
    "function, declared, message",
    [
        (lambda x: x[:, :, :-1], {}, "its output has shape (64, 1, 27, 28); expected (64, 1, 28, 28)"),
        (lambda x: 2 * x, {}, "a purifier returns images in [0, 1] (clamp its output)"),
        (lambda x: x / (x - x), {}, "its output holds 50176 NaN or infinite values"),
        (lambda x: torch.zeros_like(x, device="meta"), {}, "its output is on meta for an input on cpu"),
        (lambda x: x.tolist(), {}, "it returns a list; a tensor of shape (64, 1, 28, 28) is expected"),
        (lambda x: x * float(numpy.random.rand()), {}, "two calls under the same seed differ"),
        (lambda x: (x + 0.1 * torch.randn_like(x)).clamp(0, 1), {}, "declared stochastic: false, but two seeds give"),
        (lambda x: x, {"stochastic": True}, "declared stochastic: true, but two seeds give the same output"),
        (lambda x: x.detach(), {}, "declared differentiable, but gradients do not reach the input"),
        (lambda x: torch.tensor(x.numpy()), {}, "declared differentiable, but gradients do not reach the input"),
        (lambda x: x.double(), {}, "its output is float64 for a float32 input: return float32"),
        (lambda x: x.half(), {}, "its output is float16 for a float32 input: return float32"),
    ],
)
def test_a_defence_that_breaks_its_contract_is_refused_with_the_reason(trained, function, declared, message):
    _, x, _ = trained
    contract = contract_of(function, x, **declared)
    assert len(contract.problems) == 1 and message in contract.problems[0]


def test_a_slow_defence_meets_its_time_limit(trained):
    import time

    _, x, _ = trained
    slow = defences.time_limited(lambda x: (time.sleep(30), x)[1], 0.5)
    started = time.monotonic()
    (problem,) = contract_of(slow, x).problems
    assert "raised DefenceTimeout: one call took longer than 0.5 s (the limit: defence_time_limit_s)" in problem
    assert time.monotonic() - started < 20  # a guard against a hang: the call sleeps 30 s


def test_factory_arguments_are_checked_before_any_job():
    """An unknown settings keyword, a missing one, and a model that takes the classifier
    without `classifier: true`, each named at parse time with what the factory takes."""
    unknown = entry("examples/defences/bitdepth.py:bit_depth", settings={"bits": 2, "strength": 1})
    assert defences.entry_problems("mine", unknown, ROOT) == [
        "defences.mine.callable: examples/defences/bitdepth.py:bit_depth takes no argument 'strength' (given as "
        "settings.strength); it takes: bits"
    ]
    ensemble = entry("examples/defences/shift_ensemble.py:shift_ensemble", returns="model", settings={"shift": 1})
    (problem,) = defences.entry_problems("ens", ensemble, ROOT)
    assert "takes the dataset's classifier: set classifier: true in the entry" in problem
    assert defences.entry_problems("ens", ensemble | {"classifier": True}, ROOT) == []


def test_a_defence_package_imports_its_own_modules_and_lists_its_files():
    package = entry("examples/defences/median_package/purifier.py:median_purifier", settings={"size": 3})
    purify = defences.build(package, ROOT, torch.device("cpu"))
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 1.0  # a lone bright pixel: the median filter removes it
    assert float(purify(x).max()) == 0.0
    names = [p.name for p in defences.defence_files(package, ROOT)]
    assert names == ["__init__.py", "filters.py", "purifier.py"]
    extra = entry("examples/defences/bitdepth.py:bit_depth", files=["examples/defences/no_such_*.py"])
    assert (
        "files: 'examples/defences/no_such_*.py' matches no file under" in defences.entry_problems("b", extra, ROOT)[0]
    )


def test_a_lone_file_imports_a_helper_beside_it(tmp_path):
    (tmp_path / "helpers_for_test.py").write_text("def halve(x):\n    return x / 2\n")
    (tmp_path / "halving.py").write_text("from helpers_for_test import halve\n\ndef make():\n    return halve\n")
    function = defences.build(entry(f"{tmp_path}/halving.py:make"), ROOT)
    assert float(function(torch.ones(1))) == 0.5


def test_a_whole_model_that_wraps_the_classifier_is_given_it(trained):
    model, x, _ = trained
    ensemble = entry(
        "examples/defences/shift_ensemble.py:shift_ensemble", returns="model", classifier=True, settings={"shift": 0}
    )
    wrapped = defences.build(ensemble, ROOT, classifier=model)
    assert torch.equal(wrapped(x), model(x))  # shift 0: the classifier itself
    assert contract_of(wrapped, x, returns="model").problems == []


def test_a_whole_model_returns_logits_of_the_classes(trained):
    model, x, _ = trained
    assert contract_of(model, x, returns="model").problems == []
    assert "expected (64, 10), (images, classes)" in contract_of(lambda x: x, x, returns="model").problems[0]


def test_bpda_breaks_the_quantiser_that_zero_gradients_protect(trained):
    model, x, y = trained
    quantiser = build("examples/defences/bitdepth.py:bit_depth", bits=2)
    # declared differentiable, the quantiser keeps its contract but its gradient is zero
    masked = contract_of(quantiser, x)
    assert masked.problems == [] and masked.zero_gradient_share == 1.0 and "BPDA" in masked.notes[0]
    defended = defences.Stacked(model, quantiser)
    through = defences.Stacked(model, defences.BPDA(quantiser))
    with torch.no_grad():
        assert torch.allclose(through(x), defended(x), atol=1e-5)  # BPDA changes no forward pass
    clean = accuracy_on(defended, x, y)
    pgd = dict(PGD, eps=0.3, steps=20)
    without = accuracy_on(defended, attack_in_batches(defended, x, y, pgd, seed=0).adversarial, y)
    result = attack_in_batches(through, x, y, pgd, seed=0)
    broken = accuracy_on(defended, result.adversarial, y)
    assert without == clean > 0.8  # no gradient, no step
    assert broken < 0.3 * clean
    assert health.zero_gradients(defended, x, y, threshold=0.01)["verdict"] == health.FAIL
    assert health.zero_gradients(through, x, y, threshold=0.01)["verdict"] == health.PASS


def test_a_checkpoint_purifier_loads_its_weights(trained, tmp_path):
    _, x, _ = trained
    spec = defences.parse_reference("examples/defences/denoiser.py:train", ROOT)
    train = defences.load_callable(spec)
    denoiser = train((x[:32] * 255).to(torch.uint8), epochs=1, width=8)
    torch.save(denoiser.state_dict(), tmp_path / "denoiser.pt")
    checkpoint = str(tmp_path / "denoiser.pt")
    spec = entry("examples/defences/denoiser.py:load_denoiser", checkpoint=checkpoint, settings={"width": 8})
    loaded = defences.build(spec, ROOT, torch.device("cpu"))
    assert contract_of(loaded, x).problems == []
    with torch.no_grad():
        assert torch.equal(loaded(x), denoiser(x))


def test_the_config_refuses_a_defence_that_cannot_load_before_any_job(base_config, repo_root):
    from aedefense.config_check import check_config
    from aedefense.plan.config import ConfigError

    schema = repo_root / "workflow" / "schemas" / "config.schema.yaml"
    base_config["defences"] = {
        "bitdepth": entry("examples/defences/bitdepth.py:bit_depth", settings={"bits": 2}, differentiable=False),
        "denoiser": entry("examples/defences/denoiser.py:load_denoiser", checkpoint="denoiser.pt"),
    }
    with pytest.raises(ConfigError) as error:
        check_config(base_config, schema)
    assert str(error.value).endswith(f"  - defences.denoiser.checkpoint: no such file: {repo_root / 'denoiser.pt'}")
    del base_config["defences"]["denoiser"]
    check_config(base_config, schema)
    base_config["defences"]["bit_depth"] = base_config["defences"]["bitdepth"]
    base_config["defences"]["bitdepth"] = dict(entry("bitdepth.py"), stochastic="maybe")
    with pytest.raises(ConfigError) as error:
        check_config(base_config, schema)
    message = str(error.value)
    assert "defences: the key 'bit_depth' is not allowed; expected a name of lower-case letters" in message
    assert "defences.bitdepth.callable: 'bitdepth.py' does not match" in message
    assert "defences.bitdepth.stochastic: 'maybe' is not allowed; allowed: true, false, 'auto'" in message


def test_a_defence_outside_the_runs_datasets_or_a_purifier_given_the_classifier_is_refused(base_config, repo_root):
    from aedefense.config_check import check_config
    from aedefense.plan.config import ConfigError

    schema = repo_root / "workflow" / "schemas" / "config.schema.yaml"
    base_config["datasets"] = ["mnist"]
    base_config["defences"] = {
        "elsewhere": entry("examples/defences/bitdepth.py:bit_depth", datasets=["fashion-mnist"]),
        "given": entry("examples/defences/bitdepth.py:bit_depth", classifier=True),
    }
    with pytest.raises(ConfigError) as error:
        check_config(base_config, schema)
    message = str(error.value)
    assert (
        "defences.elsewhere.datasets: fashion-mnist, none of which this run covers (datasets: mnist), so the "
        "defence would be left out without a word" in message
    )
    assert "defences.given.classifier: a purifier always stands in front of the dataset's classifier" in message


def test_user_defences_get_their_attacks_from_the_declaration_and_health_rows(repo_root, fixture_overlay, tmp_path):
    """Three user defences through the workflow to the comparison figure: the quantiser
    attacked through BPDA and declared differentiable (no BPDA: zero gradients), the
    randomised purifier whose contract check finds that it samples (EOT); then an edit of one
    defence's source reruns its jobs only, and a defence that breaks its contract stops at
    its check."""
    import shutil

    from workflow_helpers import scheduled, snakemake

    workdir, overlay = fixture_overlay
    overlay["sanity"] = {"longer_attack": None}
    source = tmp_path / "mine" / "bitdepth.py"
    source.parent.mkdir()
    shutil.copy(repo_root / "examples" / "defences" / "bitdepth.py", source)
    quantiser = {"returns": "purifier", "datasets": ["mnist"], "settings": {"bits": 2}, "stochastic": False}
    overlay["defences"] = {
        "bitdepth": quantiser | {"callable": f"{source}:bit_depth", "differentiable": False},
        "bitdepth-raw": quantiser | {"callable": "examples/defences/bitdepth.py:bit_depth", "differentiable": True},
        "noisy": {
            "callable": "examples/defences/noisy_smoothing.py:noisy_smoothing",
            "returns": "purifier",
            "datasets": ["mnist"],
            "stochastic": "auto",
            "differentiable": True,
        },
    }
    overlay["defence_comparison"] = {"attack": "suite", "cells": []}  # the classifier and these three
    snakemake(repo_root, workdir, overlay, "--cores", "2", "results/figures/defences.pdf")
    table = pd.read_csv(workdir / "results/tables/accuracy_defences.csv")
    assert sorted(set(table["cell"])) == ["bitdepth", "bitdepth-raw", "noisy", "none"]
    assert len(table) == 4 * 3 and set(table["attack"]) == {"clean", "suite"}
    assert (workdir / "results/figures/defences.png").stat().st_size > 10000

    def verdicts(name):
        with open(workdir / f"results/mnist/ae/{name}/health/s0.csv") as handle:
            return {row["check"]: row["verdict"] for row in csv.DictReader(handle)}

    assert verdicts("bitdepth")["zero_gradients"] == "pass"  # BPDA's gradient
    assert verdicts("bitdepth")["unbounded_attack_breaks"] == "pass"
    assert verdicts("bitdepth-raw")["zero_gradients"] == "fail"  # no gradient without BPDA
    contract = json.loads((workdir / "results/mnist/ae/noisy/contract.json").read_text())
    assert contract["stochastic"] is True and contract["problems"] == []
    noisy_set = torch.load(workdir / "results/mnist/ae/noisy/adv/suite_eps0.1_s0.pt", weights_only=True)
    assert [part["name"] for part in noisy_set["settings"]["protocol"]] == ["apgdceeot", "apgddlreot"]
    assert noisy_set["settings"]["protocol"][0]["eot_draws"] == 2  # the fixture's EOT draws
    assert verdicts("noisy")["randomness_attacked_with_eot"] == "pass"
    with open(workdir / "results/mnist/ae/bitdepth/eval/suite_eps0.1_s0.csv") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["family"] == "user" and row["defence_bits"] == "2"
    assert row["defence_source_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()

    # an edit of one defence's source reruns its contract, suite attacks (3 eps),
    # evaluations and health rows, and nothing of the other defences
    source.write_text(source.read_text() + "\n# edited\n")
    targets = [f"results/mnist/ae/{name}/health/s0.csv" for name in overlay["defences"]]
    plan = snakemake(repo_root, workdir, overlay, "-n", *targets)
    jobs = scheduled(plan)
    assert sorted(jobs) == sorted(["contract", "health"] + ["attack_adaptive", "evaluate_adaptive"] * 3)
    outputs = re.findall(r"^    output: (\S+)", plan.stdout, flags=re.MULTILINE)
    assert len(outputs) == 8 and all(path.startswith("results/mnist/ae/bitdepth/") for path in outputs), outputs

    # a defence that breaks its contract stops at its check, with the problem named
    (tmp_path / "mine" / "brighten.py").write_text("def brighten():\n    return lambda x: 2 * x\n")
    overlay["defences"]["brighten"] = quantiser | {"callable": f"{tmp_path}/mine/brighten.py:brighten"}
    overlay["defences"]["brighten"] |= {"differentiable": True, "settings": {}}
    result = snakemake(
        repo_root, workdir, overlay, "--cores", "1", "results/mnist/ae/brighten/health/s0.csv", check=False
    )
    assert result.returncode != 0
    assert "defence brighten on mnist" in result.stderr and "breaks its contract" in result.stderr
    assert "a purifier returns images in [0, 1] (clamp its output)" in result.stderr
    assert not (workdir / "results/mnist/ae/brighten/adv").exists()  # no attack ran


@pytest.mark.workflow
def test_a_whole_model_and_a_package_reach_the_figure_with_their_health_rows(repo_root, fixture_overlay, tmp_path):
    """Written as a user would, outside the examples' folder: a whole model with weights of
    its own, a model that wraps the workflow's trained classifier (given as an input, not a
    path that must exist when the run is planned), and a purifier in a package of two files.
    All three reach results/figures/defences.pdf and health_defences.csv; editing the
    package's helper reruns that defence's jobs and nothing else."""
    import shutil

    from workflow_helpers import scheduled, snakemake

    workdir, overlay = fixture_overlay
    overlay["sanity"] = {"longer_attack": None}
    mine = tmp_path / "mine"
    shutil.copytree(repo_root / "examples" / "defences" / "median_package", mine / "median_package")
    (mine / "own_model.py").write_text(
        "import torch\n\n\ndef own_model():\n    torch.manual_seed(0)\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))\n"
    )
    common = {"datasets": ["mnist"], "stochastic": False, "differentiable": True}
    overlay["defences"] = {
        "own": common | {"callable": f"{mine}/own_model.py:own_model", "returns": "model"},
        "ensemble": common
        | {
            "callable": "examples/defences/shift_ensemble.py:shift_ensemble",
            "returns": "model",
            "classifier": True,
            "settings": {"shift": 1},
        },
        "median": common
        | {
            "callable": f"{mine}/median_package/purifier.py:median_purifier",
            "returns": "purifier",
            "settings": {"size": 3},
        },
    }
    overlay["defence_comparison"] = {"attack": "suite", "cells": []}
    snakemake(repo_root, workdir, overlay, "results/figures/defences.pdf")
    assert (workdir / "results/figures/defences.png").stat().st_size > 10000
    health = pd.read_csv(workdir / "results/tables/health_defences.csv")
    assert set(health["cell"]) == {"own", "ensemble", "median", "none"}
    assert health.groupby("cell")["check"].count().min() >= 5  # every check, per defence
    table = pd.read_csv(workdir / "results/tables/accuracy_defences.csv")
    assert set(table["cell"]) == {"own", "ensemble", "median", "none"}
    ensemble_set = torch.load(workdir / "results/mnist/ae/ensemble/adv/suite_eps0.1_s0.pt", weights_only=True)
    classifier_sha = hashlib.sha256((workdir / "results/mnist/classifier.pt").read_bytes()).hexdigest()
    assert ensemble_set["identity"]["classifier_sha256"] == classifier_sha  # it wraps the workflow's classifier
    own_set = torch.load(workdir / "results/mnist/ae/own/adv/suite_eps0.1_s0.pt", weights_only=True)
    assert own_set["identity"]["classifier_sha256"] is None  # a model of its own

    (mine / "median_package" / "filters.py").write_text((mine / "median_package" / "filters.py").read_text() + "\n")
    plan = snakemake(repo_root, workdir, overlay, "-n", "results/tables/health_defences.csv")
    outputs = re.findall(r"^    output: (\S+)", plan.stdout, flags=re.MULTILINE)
    assert "contract" in scheduled(plan)
    assert all(p.startswith("results/mnist/ae/median/") or p.startswith("results/tables/") for p in outputs), outputs

    # a factory that raises is named with its defence, in its contract job, before any attack
    overlay["defences"]["even"] = overlay["defences"]["median"] | {"settings": {"size": 2}}
    failed = snakemake(repo_root, workdir, overlay, "results/mnist/ae/even/contract.json", check=False)
    assert failed.returncode != 0
    assert (
        f"defence even on mnist ({mine}/median_package/purifier.py:median_purifier): its factory raised "
        "ValueError: size must be an odd number of pixels, not 2" in failed.stderr
    )
