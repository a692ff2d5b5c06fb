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
from test_attacks import PGD, accuracy_on, trained  # noqa: F401 (a fixture)

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


def test_the_examples_keep_their_contract(trained):  # noqa: F811
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
    ],
)
def test_a_defence_that_breaks_its_contract_is_refused_with_the_reason(trained, function, declared, message):  # noqa: F811
    _, x, _ = trained
    contract = contract_of(function, x, **declared)
    assert len(contract.problems) == 1 and message in contract.problems[0]


def test_a_whole_model_returns_logits_of_the_classes(trained):  # noqa: F811
    model, x, _ = trained
    assert contract_of(model, x, returns="model").problems == []
    assert "expected (64, 10), (images, classes)" in contract_of(lambda x: x, x, returns="model").problems[0]


def test_bpda_breaks_the_quantiser_that_zero_gradients_protect(trained):  # noqa: F811
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


def test_a_checkpoint_purifier_loads_its_weights(trained, tmp_path):  # noqa: F811
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
    from aedefense.plan.config import ConfigError, validate_config

    schema = repo_root / "workflow" / "schemas" / "config.schema.yaml"
    base_config["defences"] = {
        "bitdepth": entry("examples/defences/bitdepth.py:bit_depth", settings={"bits": 2}, differentiable=False),
        "denoiser": entry("examples/defences/denoiser.py:load_denoiser", checkpoint="denoiser.pt"),
    }
    with pytest.raises(ConfigError) as error:
        validate_config(base_config, schema)
    assert str(error.value).endswith(f"  - defences.denoiser.checkpoint: no such file: {repo_root / 'denoiser.pt'}")
    del base_config["defences"]["denoiser"]
    validate_config(base_config, schema)
    base_config["defences"]["bit_depth"] = base_config["defences"]["bitdepth"]
    base_config["defences"]["bitdepth"] = dict(entry("bitdepth.py"), stochastic="maybe")
    with pytest.raises(ConfigError) as error:
        validate_config(base_config, schema)
    message = str(error.value)
    assert "defences: the key 'bit_depth' is not allowed; expected a name of lower-case letters" in message
    assert "defences.bitdepth.callable: 'bitdepth.py' does not match" in message
    assert "defences.bitdepth.stochastic: 'maybe' is not allowed; allowed: true, false, 'auto'" in message


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
