"""Every artefact proves its lineage (issue: no silent wrong number, part two): a prepared split
its dataset and split, a checkpoint its training settings, an adversarial set the sha256 its
attack wrote, a result CSV its inputs, its own name and a checksum per row. Each wrong file
is refused with what it holds against what was expected, and the message's hint repairs."""

import csv
import hashlib
import json
import os
import re
import shutil

import pytest
import torch
from shared_helpers import small_adversarial_set
from workflow_helpers import snakemake

from aedefense.core.models import build_autoencoder
from aedefense.data.prepared import load_prepared, prepare
from aedefense.files.io import DamagedInput
from aedefense.files.provenance import checksum_file, row_checksum
from aedefense.jobs.adversarial import load_adversarial_set
from aedefense.jobs.checkpoints import expected_model, load_autoencoder, save_checkpoint
from aedefense.report.results import check_csv, concatenate, edited_tables, read_table, write_rows, write_table


def rewrite_csv(path, change, keep_checksum=False):
    """Edit the rows of a CSV by hand (change: row -> None); keep_checksum: recompute each
    row's checksum as a forger would, else the old one stays."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames, list(reader)
    for row in rows:
        change(row)
        if keep_checksum:
            row["row_sha256"] = row_checksum({k: row[k] for k in fields if k != "row_sha256"})
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


# --- unit: each kind of file ------------------------------------------------------------------


def test_a_prepared_split_of_another_split_or_dataset_is_refused(tmp_path, idx_mirror):
    mirror, _ = idx_mirror
    outputs = {split: tmp_path / f"{split}.pt" for split in ("train", "test")}
    prepare("mnist", mirror / "mnist", outputs)
    assert load_prepared(outputs["train"], dataset="mnist", split="train")["split"] == "train"
    shutil.copyfile(outputs["test"], outputs["train"])
    with pytest.raises(DamagedInput) as error:
        load_prepared(outputs["train"], dataset="mnist", split="train")
    assert "is not the data this job reads" in str(error.value)
    assert "split: holds 'test', this job expects 'train'" in str(error.value)
    assert outputs["train"].stat().st_mtime == 0  # marked for rebuilding
    with pytest.raises(DamagedInput, match="dataset: holds 'mnist', this job expects 'fashion-mnist'"):
        load_prepared(outputs["test"], dataset="fashion-mnist", split="test")


def test_a_checkpoint_trained_with_other_settings_is_refused(tmp_path):
    path = tmp_path / "model.pt"
    identity = {"dataset": "mnist", "name": "ae_d0_stp0_a0", "train_sha256": "1" * 64, "test_sha256": "2" * 64}
    settings = {"family": "ae", "channels": 8, "latent_dim": 16, "epochs": 30}
    model = build_autoencoder((1, 28, 28), "ae", settings)
    save_checkpoint(path, "autoencoder", model, {**settings, "in_shape": [1, 28, 28]}, identity)
    assert load_autoencoder(path, expected_model("mnist", "ae_d0_stp0_a0", "2" * 64, settings))
    with pytest.raises(DamagedInput) as error:
        load_autoencoder(path, expected_model("mnist", "ae_d0_stp0_a0", "2" * 64, {**settings, "epochs": 1}))
    assert "was trained with other settings than this job's config asks for" in str(error.value)
    assert "epochs: holds 30, this job expects 1" in str(error.value)
    assert path.stat().st_mtime == 0


def test_an_adversarial_set_edited_after_its_attack_or_without_its_checksum_is_refused(tmp_path):
    path = tmp_path / "cw_eps0.1.pt"
    small_adversarial_set(path)
    assert checksum_file(path).read_text().split()[1] == path.name
    record = torch.load(path, weights_only=True)
    record["success"][:] = False  # a well-formed archive with other content
    torch.save(record, path)
    with pytest.raises(DamagedInput, match="changed after its attack wrote it: its sha256 is .*, the attack recorded"):
        load_adversarial_set(path)
    small_adversarial_set(path)
    checksum_file(path).unlink()
    with pytest.raises(DamagedInput, match="has no readable checksum file .*cw_eps0.1.pt.sha256 beside it"):
        load_adversarial_set(path)


def test_a_result_csv_refuses_edits_copies_and_replaced_inputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = tmp_path / "input.pt"
    source.write_bytes(b"first")
    os.makedirs("eval")
    write_rows([{"cell": "none", "eps": 0.1, "accuracy_mean": 0.5}], "eval/a.csv", inputs=["input.pt"])
    check_csv("eval/a.csv")
    shutil.copyfile("eval/a.csv", "eval/b.csv")
    with pytest.raises(DamagedInput, match="was written as eval/a.csv, not under this name"):
        check_csv("eval/b.csv")

    rewrite_csv("eval/a.csv", lambda row: row.update(accuracy_mean="0.987654"))
    with pytest.raises(DamagedInput, match="was edited after its rule wrote it: row 1 fails its row_sha256"):
        check_csv("eval/a.csv")
    assert os.stat("eval/a.csv").st_mtime == 0

    write_rows([{"cell": "none", "eps": 0.1, "accuracy_mean": 0.5}], "eval/a.csv", inputs=["input.pt"])
    source.write_bytes(b"second")
    with pytest.raises(DamagedInput, match="was computed from input.pt with sha256 .*, and that file now has sha256"):
        check_csv("eval/a.csv")
    source.unlink()
    with pytest.raises(DamagedInput, match="and that file is missing"):
        check_csv("eval/a.csv", inputs=True)
    check_csv("eval/a.csv", inputs=False)  # the rows themselves are intact


def test_a_table_carries_its_sources_and_refuses_a_hand_edit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "input.pt").write_bytes(b"x")
    paths = []
    for eps in (0.1, 0.3):
        paths.append(f"eval_{eps}.csv")
        write_rows([{"cell": "none", "eps": eps, "accuracy_mean": 1 - eps}], paths[-1], inputs=["input.pt"])
    table = concatenate(paths, ["eps"])
    assert list(table["source"]) == paths and table["source_sha256"].str.len().eq(64).all()
    assert "written_as" not in table and "row_sha256" not in table
    assert json.loads(table["inputs_sha256"][0]) == {"input.pt": hashlib.sha256(b"x").hexdigest()}
    os.makedirs("tables")
    write_table(table, "tables/accuracy.csv")
    assert read_table("tables/accuracy.csv")["accuracy_mean"].tolist() == [0.9, 0.7]
    assert edited_tables("tables") == []
    rewrite_csv("tables/accuracy.csv", lambda row: row.update(accuracy_mean="0.987654"))
    (message,) = edited_tables("tables")
    assert "results table tables/accuracy.csv was edited after its rule wrote it: row 1 fails" in message
    assert "this run rebuilds it if it is among the targets" in message
    assert os.stat("tables/accuracy.csv").st_mtime == 0


# --- the workflow: each probe, and its hint followed --------------------------------------------


@pytest.mark.workflow
def test_wrong_files_are_refused_and_the_same_command_repairs(repo_root, fixture_overlay):
    """The probes that gave silent wrong numbers: a test split copied over the train split, a
    checkpoint trained with other settings copied in, a job CSV edited by hand or copied under
    another name, a results table edited by hand. Each stops with its message (or, for the
    table, is rebuilt by the same run), and the same command repairs to the original bytes."""
    workdir, overlay = fixture_overlay
    overlay["sanity"] = {"longer_attack": None}
    results = workdir / "results" / "mnist"

    def fails_with(target, complaint):
        failed = snakemake(repo_root, workdir, overlay, target, check=False)
        assert failed.returncode != 0 and complaint in failed.stderr, (complaint, failed.stderr[-3000:])
        assert "It is marked for rebuilding" in failed.stderr
        return snakemake(repo_root, workdir, overlay, target)  # the hint: the same command again

    # 1. the test split copied over the train split: the classifier would train on it
    snakemake(repo_root, workdir, overlay, "results/mnist/classifier.pt")
    train = results / "data" / "train.pt"
    original_train = train.read_bytes()
    shutil.copyfile(results / "data" / "test.pt", train)
    fails_with("results/mnist/classifier.pt", "split: holds 'test', this job expects 'train'")
    assert train.read_bytes() == original_train

    # 2. a checkpoint trained for 2 epochs copied over the 1-epoch one the config asks for
    cell = "ae_d0_stp0.2_a0"
    model = results / "ae" / cell / "model.pt"
    snakemake(
        repo_root,
        workdir,
        overlay | {"cell_overrides": {f"mnist/{cell}": {"epochs": 2}}},
        f"results/mnist/ae/{cell}/model.pt",
    )
    two_epochs = model.read_bytes()
    table = "results/tables/accuracy_fig4.csv"
    snakemake(repo_root, workdir, overlay, table)
    original_table = (workdir / table).read_text()
    model.write_bytes(two_epochs)
    fails_with(
        table,
        "was trained with other settings than this job's config asks for (copied from another run or "
        "cell?): epochs: holds 2, this job expects 1",
    )
    assert (workdir / table).read_text() == original_table

    # 3. a job's CSV edited by hand, and one copied under another eps's name
    evaluation = results / "ae" / "none" / "eval" / "cw_eps0.1.csv"
    original_row = evaluation.read_text()
    rewrite_csv(evaluation, lambda row: row.update(accuracy_mean="0.987654"))
    fails_with(table, "was edited after its rule wrote it: row 1 fails its row_sha256")
    shutil.copyfile(evaluation.with_name("cw_eps0.3.csv"), evaluation)
    fails_with(table, "was written as results/mnist/ae/none/eval/cw_eps0.3.csv, not under this name")
    assert evaluation.read_text() == original_row and (workdir / table).read_text() == original_table

    # 4. the results table edited by hand: the same run notices and rebuilds it
    rewrite_csv(workdir / table, lambda row: row.update(accuracy_mean="0.987654"))
    rebuilt = snakemake(repo_root, workdir, overlay, table)
    assert "was edited after its rule wrote it" in rebuilt.stderr
    assert re.findall(r"^(?:local)?rule (\w+):$", rebuilt.stdout + rebuilt.stderr, flags=re.MULTILINE) == [
        "figure_table"
    ]
    assert (workdir / table).read_text() == original_table
