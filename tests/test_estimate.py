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
