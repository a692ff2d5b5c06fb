"""Faults a long grid meets on a shared cluster: killed jobs, a second run on the same results,
damaged files, random config edits. Each case fails if the behaviour regresses."""

import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import fixtures
import pytest
import torch
from workflow_helpers import make_fixture_overlay, result_files, scheduled, snakemake, snakemake_command

from aedefense.files.provenance import write_checksum_file

# --- killed jobs and a concurrent run ---------------------------------------------------------


def start_snakemake(repo_root, workdir, overlay, *targets):
    """A snakemake run in its own process group, so that a test can kill it and its jobs."""
    command = snakemake_command(repo_root, workdir, overlay, *targets)
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


def wait_for_text(path: Path, text: str, process, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        if process.poll() is not None:
            raise AssertionError(f"snakemake ended before {path} said {text!r}:\n{process.stdout.read()}")
        time.sleep(0.5)
    raise AssertionError(f"{path} did not say {text!r} within {timeout} s")


def kill_all(process):
    """SIGKILL snakemake and every job it started: a node that dies."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


@pytest.mark.workflow
def test_killed_training_and_attack_are_redone_and_a_second_run_is_refused(repo_root, fixture_overlay):
    workdir, overlay = fixture_overlay
    cell = "ae_d0_stp0.2_a0"
    model = workdir / "results" / "mnist" / "ae" / cell / "model.pt"
    # long enough to be killed in the middle
    overlay["cell_overrides"] = {f"mnist/{cell}": {"epochs": 500}}
    run = start_snakemake(repo_root, workdir, overlay, str(model.relative_to(workdir)))
    try:
        wait_for_text(workdir / "logs" / "mnist" / "ae" / cell / "train_autoencoder.log", "epoch 2/500", run)
        # A second run on the same results directory is refused, and changes nothing.
        second = snakemake(repo_root, workdir, overlay, "results/mnist/classifier.pt", check=False)
        assert second.returncode != 0
        assert "cannot be locked" in second.stdout + second.stderr
        assert not (workdir / "results" / "mnist" / "classifier.pt").exists()
    finally:
        kill_all(run)
    assert not model.exists()  # nothing half-written under the output's name
    # the README's advice after a kill: --unlock, then the same command with --rerun-incomplete
    snakemake(repo_root, workdir, overlay, "--unlock")
    plan = snakemake(repo_root, workdir, overlay, "-n", str(model.relative_to(workdir)), "--rerun-incomplete")
    assert scheduled(plan) == ["train_autoencoder"]  # exactly that job; data and downloads stay

    # The same for an attack, killed mid-way on the undefended classifier.
    overlay["cell_overrides"] = {}
    overlay["attacks"] = {"cw": {"iterations": 200_000}}
    adversarial = workdir / "results" / "mnist" / "ae" / "none" / "adv" / "cw_eps0.1.pt"
    snakemake(repo_root, workdir, overlay, "results/mnist/classifier.pt")
    run = start_snakemake(repo_root, workdir, overlay, str(adversarial.relative_to(workdir)))
    try:
        wait_for_text(workdir / "logs" / "mnist" / "ae" / "none" / "attack" / "cw_eps0.1.log", "attacking", run)
        time.sleep(2)
    finally:
        kill_all(run)
    assert not adversarial.exists()
    snakemake(repo_root, workdir, overlay, "--unlock")
    plan = snakemake(repo_root, workdir, overlay, "-n", str(adversarial.relative_to(workdir)), "--rerun-incomplete")
    assert scheduled(plan) == ["attack"]


def session_processes(session: int) -> list[str]:
    """The processes of a session (the run started with start_new_session), as 'pid command'."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if entry.name.isdigit() and int(fields[3]) == session:
                found.append(f"{entry.name} {(entry / 'cmdline').read_bytes().replace(bytes(1), b' ').decode()[:120]}")
        except (OSError, ValueError, IndexError):
            continue
    return found


@contextmanager
def running(repo_root, workdir, overlay, *targets):
    """start_snakemake, and whatever of its session is left when the block ends (a failed
    test) killed: a test stops only the processes it started, and all of them."""
    run = start_snakemake(repo_root, workdir, overlay, *targets)
    try:
        yield run
    finally:
        if session_processes(run.pid):
            os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=60)


def ends_without_orphans(run, timeout=120):
    """The run's snakemake exits, and no process of its session is left after it."""
    try:
        run.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_all(run)
        raise AssertionError(f"snakemake did not stop within {timeout} s") from None
    deadline = time.monotonic() + 15  # a job's own exit may take a moment after snakemake's
    while session_processes(run.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = session_processes(run.pid)
    if left:
        os.killpg(run.pid, signal.SIGKILL)
    assert left == [], f"processes left behind: {left}"


@pytest.mark.workflow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_snakemake_leaves_no_job_behind(repo_root, fixture_overlay, signum):
    """SIGTERM or SIGINT to snakemake alone (not its process group) during a long training:
    snakemake stops its jobs and exits, and nothing of the run is left."""
    workdir, overlay = fixture_overlay
    cell = "ae_d0_stp0.2_a0"
    overlay["cell_overrides"] = {f"mnist/{cell}": {"epochs": 500}}
    with running(repo_root, workdir, overlay, f"results/mnist/ae/{cell}/model.pt") as run:
        wait_for_text(workdir / "logs" / "mnist" / "ae" / cell / "train_autoencoder.log", "epoch 2/500", run)
        os.kill(run.pid, signum)
        ends_without_orphans(run)
        assert "stopping the 1 running job(s)" in run.stdout.read()


@pytest.mark.workflow
def test_a_stopped_download_and_a_killed_snakemake_leave_nothing_behind(repo_root, fixture_overlay, http_mirror):
    """A download from a server that sends a byte a second: SIGTERM to snakemake stops it. Then
    SIGKILL to snakemake (no handler runs): the job notices its snakemake is gone and ends."""
    workdir, overlay = fixture_overlay
    url, server = http_mirror(Path(overlay["mirror"]))
    server.slow_prefix = "/mnist/"  # the data files; the checksum lists come at once
    overlay["mirror"] = url
    with running(repo_root, workdir, overlay, "results/mnist/data/test.pt") as run:
        deadline = time.monotonic() + 300
        while not any(r.startswith("/mnist/") for r in server.requests) and time.monotonic() < deadline:
            assert run.poll() is None, run.stdout.read()
            time.sleep(0.5)
        time.sleep(1)
        os.kill(run.pid, signal.SIGTERM)
        ends_without_orphans(run)

    cell = "ae_d0_stp0.2_a0"
    overlay["mirror"] = str(workdir.parent / "mirror")
    overlay["cell_overrides"] = {f"mnist/{cell}": {"epochs": 500}}
    snakemake(repo_root, workdir, overlay, "--unlock")
    training_log = workdir / "logs" / "mnist" / "ae" / cell / "train_autoencoder.log"
    with running(repo_root, workdir, overlay, f"results/mnist/ae/{cell}/model.pt") as run:
        wait_for_text(training_log, "epoch 2/500", run)
        os.kill(run.pid, signal.SIGKILL)
        ends_without_orphans(run, timeout=30)
    assert "the snakemake that started this job" in training_log.read_text()


@pytest.mark.workflow
def test_two_runs_from_scratch_give_identical_results(repo_root, tmp_path):
    runs = []
    for name in ("first", "second"):
        workdir, overlay = make_fixture_overlay(repo_root, tmp_path / name)
        overlay["mirror"] = str(tmp_path / "first" / "mirror")  # the same fixture files
        snakemake(repo_root, workdir, overlay, "results/figures/fig3.pdf")
        runs.append(result_files(workdir))
    first, second = runs
    assert first.keys() == second.keys() and "results/tables/accuracy_fig3.csv" in first
    assert [name for name in first if first[name] != second[name]] == []


# --- damaged files ----------------------------------------------------------------------------


@pytest.mark.workflow
def test_a_damaged_input_is_rebuilt_byte_for_byte_by_the_next_run(repo_root, fixture_overlay):
    workdir, overlay = fixture_overlay
    overlay["sanity"] = {"longer_attack": None}  # fewer jobs; not what this is about
    target = "results/figures/fig3.pdf"
    snakemake(repo_root, workdir, overlay, target)
    adversarial = workdir / "results" / "mnist" / "ae" / "none" / "adv" / "cw_eps0.1.pt"
    original = adversarial.read_bytes()
    adversarial.write_bytes(original[: len(original) // 2])

    failed = snakemake(repo_root, workdir, overlay, target, check=False)
    assert failed.returncode != 0
    assert f"adversarial set {adversarial.relative_to(workdir)} is not a complete archive" in failed.stderr
    assert "run the same snakemake command again" in failed.stderr
    # The same command again rebuilds that set and what reads it, nothing else.
    plan = snakemake(repo_root, workdir, overlay, "-n", target)
    assert sorted(scheduled(plan)) == ["accuracy_figure", "attack", "evaluate", "figure_table"]
    snakemake(repo_root, workdir, overlay, target)
    assert adversarial.read_bytes() == original
    assert scheduled(snakemake(repo_root, workdir, overlay, "-n", target)) == []

    # Where the file cannot be marked (another user's), the message gives --forcerun <file>:
    # followed on a damaged, unmarked file, it rebuilds the file and what reads it.
    adversarial.write_bytes(original[: len(original) // 2])
    forcerun = ["--forcerun", str(adversarial.relative_to(workdir))]
    plan = snakemake(repo_root, workdir, overlay, "-n", target, *forcerun)
    assert sorted(scheduled(plan)) == ["accuracy_figure", "attack", "evaluate", "figure_table"]
    snakemake(repo_root, workdir, overlay, target, *forcerun)
    assert adversarial.read_bytes() == original


def edited_set(path, change, checksum=True):
    """An adversarial set loaded, changed and saved back: well-formed, with the wrong content;
    with `checksum` the checksum file beside it is rewritten too, as a forger would, so that
    the checks behind the checksum are reached."""
    record = torch.load(path, weights_only=True)
    change(record)
    torch.save(record, path)
    if checksum:
        write_checksum_file(path)


@pytest.mark.workflow
def test_well_formed_files_with_the_wrong_content_stop_the_run(repo_root, fixture_overlay):
    """Sets edited by hand, copied over another eps, and checkpoints of other cells copied in
    are each refused with what they hold against what was expected; none yields a row."""
    workdir, overlay = fixture_overlay
    overlay["sanity"] = {"longer_attack": None}
    results = workdir / "results" / "mnist"
    evaluation = "results/mnist/ae/none/eval/cw_eps0.3.csv"
    defended = "results/mnist/ae/vae_d1_stp0.2_a0/eval/cw_eps0.3.csv"
    others = ["results/mnist/ae/ae_d0_stp0.2_a0/model.pt", "results/mnist/ae/vae_d0_stp0_a0/model.pt"]
    snakemake(repo_root, workdir, overlay, evaluation, defended, "results/mnist/ae/none/adv/cw_eps0.1.pt", *others)
    row = (workdir / evaluation).read_text()
    sets = results / "ae" / "none" / "adv"
    clean = torch.load(results / "data" / "test.pt", weights_only=True)["images"][:40].float() / 255
    originals = {
        path: path.read_bytes() for path in [*sets.glob("*.pt*"), results / "ae" / "vae_d1_stp0.2_a0" / "model.pt"]
    }

    def nan(record):
        record["adversarial"][0, 0, 0, 0] = float("nan")

    edits = [
        (lambda: edited_set(sets / "cw_eps0.3.pt", nan), evaluation, "holds 1 pixel values that are not finite"),
        (
            lambda: edited_set(sets / "cw_eps0.3.pt", lambda r: r.update(adversarial=1 - r["adversarial"])),
            evaluation,
            "leaves the eps box: image 0 lies 1 from its clean image in L-infinity, beyond eps 0.3",
        ),
        (
            lambda: edited_set(sets / "cw_eps0.3.pt", lambda r: r.update(adversarial=clean.clone())),
            evaluation,
            "holds images that are not the attack's: image 0 lies 0 from its clean image",
        ),
        (
            lambda: edited_set(sets / "cw_eps0.3.pt", lambda r: r.update(adversarial=clean.clone()), checksum=False),
            evaluation,
            "changed after its attack wrote it: its sha256 is",
        ),
        (
            lambda: [
                (sets / f"cw_eps0.1.pt{suffix}").write_bytes(originals[sets / f"cw_eps0.3.pt{suffix}"])
                for suffix in ("", ".sha256")
            ],
            "results/mnist/ae/none/eval/cw_eps0.1.csv",
            "is not the set this job reads (copied from elsewhere?): eps: holds 0.3, this job expects 0.1",
        ),
        (
            lambda: (results / "ae" / "vae_d1_stp0.2_a0" / "model.pt").write_bytes((workdir / others[0]).read_bytes()),
            defended,
            "is not the model this job reads (copied or moved from another job's folder, or trained on other data): "
            "name: holds 'ae_d0_stp0.2_a0', this job expects 'vae_d1_stp0.2_a0'",
        ),
        (
            lambda: (results / "ae" / "vae_d1_stp0.2_a0" / "model.pt").write_bytes((workdir / others[1]).read_bytes()),
            defended,
            "name: holds 'vae_d0_stp0_a0', this job expects 'vae_d1_stp0.2_a0'",
        ),
    ]
    for edit, target, complaint in edits:
        for path, content in originals.items():
            path.write_bytes(content)
        edit()
        failed = snakemake(repo_root, workdir, overlay, target, check=False)
        assert failed.returncode != 0 and complaint in failed.stderr, (complaint, failed.stderr[-3000:])
        assert "It is marked for rebuilding" in failed.stderr
        # no row from a wrong file: the target is missing or, left from before, still to be rebuilt
        assert target in snakemake(repo_root, workdir, overlay, "-n", target).stdout
    # the hint repairs: the same command rebuilds the marked file, and the row is the original one
    snakemake(repo_root, workdir, overlay, evaluation, defended)
    assert (workdir / evaluation).read_text() == row


@pytest.mark.workflow
def test_a_broken_raw_file_is_downloaded_again_by_the_next_run(repo_root, fixture_overlay, tmp_path):
    """A file the mirror's MD5SUMS vouches for but that is broken fails its download; after a
    switch to a good mirror the same command works. A raw file broken after its download is
    moved aside by prepare, and the same command downloads it again."""
    workdir, overlay = fixture_overlay
    target = "results/mnist/data/test.pt"
    good = overlay["mirror"]
    broken = tmp_path / "broken-mirror"
    shutil.copytree(good, broken)
    (broken / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"")
    fixtures.write_manifest(broken)
    overlay["mirror"] = str(broken)
    failed = snakemake(repo_root, workdir, overlay, target, check=False)
    assert failed.returncode != 0
    assert "too short for an IDX header (0 bytes) (its checksum matches the mirror's MD5SUMS" in failed.stderr
    overlay["mirror"] = good
    snakemake(repo_root, workdir, overlay, target)

    raw = workdir / "resources" / "mnist" / "t10k-labels-idx1-ubyte.gz"
    original = raw.read_bytes()
    raw.write_bytes(original[:20])
    for split in ("train", "test"):
        (workdir / "results" / "mnist" / "data" / f"{split}.pt").unlink()
    failed = snakemake(repo_root, workdir, overlay, target, check=False)
    assert failed.returncode != 0 and "the same snakemake command downloads it again" in failed.stderr
    snakemake(repo_root, workdir, overlay, target)
    assert raw.read_bytes() == original


def test_a_yaml_alias_bomb_is_refused_before_any_work(repo_root, tmp_path):
    from test_config import alias_bomb

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb(9))
    # the timeout guards against a hang (the bomb walked for hours); it is no speed bar
    result = run_snakemake_cli(repo_root, tmp_path, "-n", "--configfile", str(bomb), timeout=600)
    assert result.returncode != 0
    assert "values once its YAML aliases (&anchor / *alias) are expanded" in result.stdout + result.stderr


def test_a_config_file_with_a_key_twice_or_far_too_large_is_refused(repo_root, tmp_path):
    twice = tmp_path / "twice.yaml"
    twice.write_text("datasets: [mnist]\ntraining_seeds: 1\ndatasets: [btsc]\n")
    result = run_snakemake_cli(repo_root, tmp_path, "-n", "--configfile", str(twice))
    assert result.returncode != 0
    assert (
        "gives a key twice in one block, where YAML would keep the last value without a word: 'datasets' on "
        "lines 1 and 3" in result.stdout + result.stderr
    )
    large = tmp_path / "large.yaml"  # 1.1 MiB, cheap for Snakemake to parse: one list of numbers
    large.write_text("extra: [" + ", ".join(["0"] * 400_000) + "]\n")
    result = run_snakemake_cli(repo_root, tmp_path, "-n", "--configfile", str(large))
    assert result.returncode != 0
    assert f"config file {large} is 1.1 MiB; a config of this workflow is tens of KB and at most 1 MiB is read" in (
        result.stdout + result.stderr
    )


def test_a_second_configfile_option_is_refused(repo_root, tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("training_seeds: 1\n")
    second.write_text("datasets: [mnist]\n")
    result = run_snakemake_cli(repo_root, tmp_path, "-n", "--configfile", str(first), "--configfile", str(second))
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "--configfile is given 2 times" in output
    assert f"--configfile {first} {second}" in output


@pytest.mark.parametrize(
    "target,complaint",
    [
        ("results/mnist/ae/none/adv/cw_eps5.pt", "eps 5 is not in data.mnist.eps (0.1, 0.3)"),
        ("results/mnist/ae/ae_d1_stp99_a0/model.pt", "no figure trains the cell ae_d1_stp99_a0 (the cells of"),
        ("results/mnist/ae/vae_d1_stp0.2_a0/adv/cweot_eps0.1_s7.pt", "latent scale 7 is not among the figures'"),
        ("results/mnist/classifier_r1.pt", "training seed _r1 of classifier is not trained: it has 1"),
        ("results/mnist/ae/none/eval/clean_eps0.1.csv", "the clean images are evaluated at eps 0 only, not 0.1"),
        ("results/mnist/ae/none/adv/cw_eps0.10.pt", "eps 0.10 is spelled otherwise in this workflow's file names: 0.1"),
        ("results/mnist/ae/none/adv/cw_eps1e-1.pt", "eps 1e-1 is spelled otherwise in this workflow's file names: 0.1"),
    ],
)
def test_a_target_outside_the_config_is_refused_with_the_allowed_values(repo_root, fixture_overlay, target, complaint):
    workdir, overlay = fixture_overlay
    result = snakemake(repo_root, workdir, overlay, "-n", target, check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "lies outside the config" in output and complaint in output
    # refused as the command line is read, not inside a job's input function
    assert "InputFunctionException" not in output and "Traceback" not in output


@pytest.mark.parametrize(
    "target,closest",
    [
        ("results/figures/fig3.pfd", "results/figures/fig3.pdf"),
        ("results/mnsit/ae/none/adv/cw_eps0.1.pt", "results/mnist/ae/none/adv/cw_eps0.1.pt"),
    ],
)
def test_a_target_with_a_typo_is_named_with_the_closest_targets(repo_root, fixture_overlay, target, closest):
    workdir, overlay = fixture_overlay
    result = snakemake(repo_root, workdir, overlay, "-n", target, check=False)
    output = result.stdout + result.stderr
    assert (
        result.returncode != 0
        and f"nothing in this workflow makes {target}; the closest this config builds: {closest}" in output
    )
    assert "MissingRuleException" not in output and "Traceback" not in output


def run_snakemake_cli(repo_root, workdir, *args, timeout=300):
    """snakemake with exactly the options given (no config overlay)."""
    command = [sys.executable, "-m", "snakemake", "-s", str(repo_root / "Snakefile"), "-d", str(workdir), "-c1", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


# --- config fuzzing ---------------------------------------------------------------------------
