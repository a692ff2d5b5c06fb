"""The estimate `make paper` prints: the command line read as Snakemake reads it, and the
training sets the run will find."""

import fixtures

from aedefense.cost.estimate import config_overlays, training_images_found
from aedefense.cost.projection import load_config


def test_the_estimate_reads_the_command_line_config_as_snakemake_does(tmp_path):
    extra = tmp_path / "extra.yaml"
    extra.write_text("datasets: [mnist]\nthreads: {attack: 3}\n")
    files, overrides, cores, directory = config_overlays(
        ["--cores", "2", "--configfile", str(extra), "--config", "evaluation={latent_draws: 7}", "device=cpu"]
    )
    assert files == [str(extra)] and cores == 2 and directory == "."
    # Snakemake reads a nested value as text, and so does the estimate (the config check then
    # says to use --configfile)
    assert overrides == {"evaluation": {"latent_draws": "7"}, "device": "cpu"}
    config = load_config(files, overrides)
    assert config["datasets"] == ["mnist"] and config["threads"]["attack"] == 3
    assert config["threads"]["evaluate"] == 4  # the rest of config.yaml's threads stays
    assert config["evaluation"]["latent_draws"] == "7" and config["evaluation"]["draw_seeds"] == "per_point"


def test_the_estimate_counts_the_training_images_the_run_will_read(tmp_path):
    mirror, run = tmp_path / "mirror", tmp_path / "run"
    fixtures.write_idx_dataset(mirror, "mnist", n_train=60)
    fixtures.write_idx_dataset(mirror, "fashion-mnist", n_train=40)
    config = {"datasets": ["mnist", "fashion-mnist", "btsc"], "mirror": str(mirror)}
    assert training_images_found(config, run) == {"mnist": 60, "fashion-mnist": 40}  # BTSC: official size
    fixtures.write_idx_dataset(run / "resources", "mnist", n_train=30)  # downloaded already: read there
    assert training_images_found(config, run) == {"mnist": 30, "fashion-mnist": 40}
    assert training_images_found({"datasets": ["mnist"], "mirror": None}, tmp_path / "elsewhere") == {}
    (run / "resources" / "mnist" / "train-labels-idx1-ubyte.gz").write_bytes(b"broken")  # damaged: the mirror's
    assert training_images_found(config, run) == {"mnist": 60, "fashion-mnist": 40}


def test_the_profile_of_one_target_keeps_the_jobs_it_needs(tmp_path, repo_root):
    """Three timed jobs in a run directory; the attack of one cell needs that cell's training
    and its own attack, not the other cell's attack."""
    import json
    import subprocess
    import sys

    def timing(rule, wildcards, compute_s, amount, started_at):
        path = tmp_path / "logs" / f"{rule}-{len(list(tmp_path.rglob('*.json')))}.timing.json"
        path.parent.mkdir(exist_ok=True)
        phases = {"startup_s": 1.0, "load_s": 0.0, "compute_s": compute_s, "save_s": 0.0, "other_s": 0.0}
        finished_at = started_at + 1.0 + compute_s
        record = {"rule": rule, "wildcards": wildcards, "started_at": started_at, "finished_at": finished_at}
        record["device"] = "cpu"
        path.write_text(json.dumps(record | phases | {"work": {"unit": "u", "amount": amount}}))

    # in two parts an hour apart: 0-5 s, then 3600-3603 s beside 3601-3610 s
    # written before the wildcard was named `defence`: read as one, so the target keeps it
    timing("train_autoencoder", {"dataset": "mnist", "ae": "ae_d0_stp0.2_a0"}, 4.0, 400, started_at=0.0)
    attack = {"dataset": "mnist", "attack": "cw", "eps": "0.3"}
    timing("attack", attack | {"defence": "ae_d0_stp0.2_a0"}, 2.0, 100, started_at=3600.0)
    timing("attack", attack | {"defence": "ae_d1_stp0.2_a0"}, 8.0, 100, started_at=3601.0)
    # Snakemake's wall time of that job: 3 s more than its timing interval (process spawn, exit)
    benchmark = next(tmp_path.rglob("attack-2.timing.json")).with_name("attack-2.benchmark.tsv")
    benchmark.write_text("s\th:m:s\n12.0\t0:00:12\n")
    command = [sys.executable, str(repo_root / "benchmarks" / "profile_run.py"), "--directory", str(tmp_path)]
    command += ["--plan-configfile", str(repo_root / "tests" / "fixture_config.yaml"), "--no-projection"]
    target = ["--target", "results/mnist/ae/ae_d0_stp0.2_a0/adv/cw_eps0.3.pt"]
    rows, headers = {}, {}
    for name, extra in (("all", []), ("target", target)):
        said = subprocess.run(command + extra, capture_output=True, text=True, check=True).stdout
        headers[name] = said.splitlines()[0]
        rows[name] = {line.split()[0]: line.split() for line in said.splitlines()[2:] if line.strip()}
    # the hour between the parts is not time the run was busy: 17 s of job intervals over 15 s
    # busy (the benchmark's 3 s more count in the job's wall time, not in its interval)
    assert "jobs ran 1.13 at a time on average over the 0 min during which any ran" in headers["all"]
    assert "jobs ran 1.00 at a time" in headers["target"]  # 5 s and 3 s of jobs, 8 s busy
    assert "2 jobs in " in headers["target"] and "(of the 3 timed there;" in headers["target"]
    assert rows["all"]["attack"][1:3] == ["2", "7.50s"]  # 1 s start-up + 2 s compute; 12 s benchmarked
    assert rows["target"]["attack"][1:3] == ["1", "3.00s"]
    assert rows["target"]["train_autoencoder"][1] == "1"
