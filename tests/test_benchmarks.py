"""The `make bench` commands the docs give hand each benchmark script only options it takes."""

import importlib.util
import re
import shlex
import subprocess

import pytest


def load_script(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_documented_make_bench_command_parses_in_each_script(repo_root):
    documented = re.findall(r"`(make bench [^`]+)`", (repo_root / "docs" / "performance.md").read_text())
    assert documented, "docs/performance.md gives no make bench command with options"
    for command in documented:
        # -n prints the recipe without running it; the stamp is made up to date so that the
        # environment's set-up is left out of what is printed
        printed = subprocess.run(
            ["make", "-n", "-o", ".venv/.installed-bench", *shlex.split(command)[1:]],
            cwd=repo_root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        scripts = [shlex.split(line)[1:] for line in printed.splitlines() if " benchmarks/" in line]
        assert {path for path, *_ in scripts} >= {
            "benchmarks/attack_throughput.py",
            "benchmarks/training_throughput.py",
        }, printed
        for path, *arguments in scripts:
            if path in ("benchmarks/workflow_overhead.py", "benchmarks/thread_mix.py"):  # no options from make bench
                assert arguments == [], f"`{command}` hands {path} {arguments}"
                continue
            try:
                load_script(repo_root / path).build_parser().parse_args(arguments)
            except SystemExit:  # argparse's answer to an option the script does not take
                pytest.fail(f"{path} refuses {arguments}, given by the documented `{command}`")


def test_the_exact_rows_train_the_exact_penalty_whatever_config_yaml_trains(repo_root):
    """config.yaml trains with the projection estimate; the bench's "(exact)" rows must not."""
    bench = load_script(repo_root / "benchmarks" / "training_throughput.py")
    assert [bench.estimator_of(row) for row in bench.MODELS] == [
        "exact" if "(exact)" in row else "projection" for row in bench.MODELS
    ]
    assert "exact" in {bench.estimator_of(row) for row in bench.MODELS}


def test_the_flop_counts_and_the_peak_are_those_of_the_arithmetic(repo_root, monkeypatch):
    """A linear layer's attack step and training step, counted by hand: 2 x in x out per image
    forward, as much again for the input (or the weight) gradient."""
    import doctest
    import importlib

    import torch

    monkeypatch.syspath_prepend(str(repo_root / "benchmarks"))  # as the benchmarks import it
    flops = importlib.import_module("flops")
    failed, tried = doctest.testmod(flops)
    assert tried == 3 and failed == 0
    layer = torch.nn.Linear(30, 50)
    assert flops.input_gradient_flops(layer, torch.rand(8, 30)) == 2 * (2 * 30 * 50)
    assert all(p.requires_grad for p in layer.parameters())  # the weights' flags are restored
    assert flops.matmul_peak_gflops(torch.device("cpu"), size=128, repeats=2) > 0
    # a gradient inside the loss (the contractive penalty's projection): its products counted too
    x = torch.rand(8, 30, requires_grad=True)

    def penalised():
        code = layer(x)
        (gradient,) = torch.autograd.grad(code, x, grad_outputs=torch.ones_like(code), create_graph=True)
        return gradient.pow(2).sum()

    # the forward, the gradient to x (ones @ W) and that product's backward to W; a linear
    # layer's input gradient does not depend on x, so nothing flows back through the forward
    assert flops.training_step_flops(penalised, 8) == 3 * (2 * 30 * 50)


def test_the_estimate_check_row_sets_the_run_against_its_estimate(repo_root):
    """benchmarks/estimate_check.py's row: jobs since the estimate (gaps of scheduling counted,
    an earlier run's job left out) and Snakemake's wall, each over the estimate."""
    check = load_script(repo_root / "benchmarks" / "estimate_check.py")
    estimate = {"made_at": 100.0, "wall_s": 1000.0, "idle_wall_s": 500.0, "cores": 2, "load": 3.0, "share": 0.5}
    jobs = [
        {"started_at": 10.0, "finished_at": 90.0},  # before the estimate
        {"started_at": 120.0, "finished_at": 500.0},
        {"started_at": 530.0, "finished_at": 800.0},  # 30 s after the last: Snakemake at work
        {"started_at": 2000.0, "finished_at": 2100.0},  # after a pause of 20 minutes
    ]
    row = check.table_row(estimate, jobs, run_wall_s=2100.0, load_after=0.5)
    assert row["measured_s"] == 780.0 and row["measured_over_estimate"] == 0.78
    assert row["snakemake_over_estimate"] == 2.1 and row["estimate_idle_s"] == 500.0
    assert row["load_at_estimate"] == 3.0 and row["share_at_estimate"] == 0.5


def test_the_thread_mix_fills_the_cores_and_times_each_mix(repo_root):
    """One job on every core, then more jobs of fewer threads; each row a positive rate and its
    ratio to the first (1.00 for the first itself)."""
    import doctest
    import sys

    mix = load_script(repo_root / "benchmarks" / "thread_mix.py")
    failed, tried = doctest.testmod(mix)
    assert tried == 1 and failed == 0
    printed = subprocess.run(
        [sys.executable, "benchmarks/thread_mix.py", "--cores", "2", "--iterations", "1", "--workloads", "training"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout
    rows = re.findall(r"^training +(\d) x (\d) +([\d,]+) +([\d.]+)  image-steps$", printed, re.MULTILINE)
    assert [(jobs, threads) for jobs, threads, _, _ in rows] == [("1", "2"), ("2", "1")], printed
    assert all(int(rate.replace(",", "")) > 0 for _, _, rate, _ in rows)
    assert rows[0][3] == "1.00"
