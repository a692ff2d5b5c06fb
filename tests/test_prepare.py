"""Preparation of verified raw files into results/{dataset}/data/{train,test}.pt."""

import gzip
import shutil

import numpy as np
import pytest
import torch

from aedefense.data import btsc
from aedefense.data.prepared import load_prepared, prepare

EXPECTED_FIXTURE = {"train_images": 2 * 62, "test_images": 53}


def prepare_to(tmp_path, dataset, raw_dir, tag="a", expected=None):
    outputs = {split: tmp_path / tag / f"{split}.pt" for split in ("train", "test")}
    prepare(dataset, raw_dir, outputs, expected)
    return outputs


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_idx_prepared_tensors_equal_the_source(tmp_path, idx_mirror, dataset):
    mirror, arrays = idx_mirror
    outputs = prepare_to(tmp_path, dataset, mirror / dataset)
    for split in ("train", "test"):
        record = load_prepared(outputs[split])
        images, labels = arrays[dataset][split]
        assert record["images"].dtype == torch.uint8 and record["labels"].dtype == torch.int64
        assert tuple(record["images"].shape) == (len(labels), 1, 28, 28)
        assert np.array_equal(record["images"][:, 0].numpy(), images)
        assert np.array_equal(record["labels"].numpy(), labels)
        assert 0 <= int(record["labels"].min()) and int(record["labels"].max()) <= 9
        assert record["dataset"] == dataset and record["split"] == split
        assert record["classes"] == 10
        assert len(record["sources"]) == 2


def test_preparation_is_deterministic(tmp_path, idx_mirror, btsc_mirror):
    mirror, _ = idx_mirror
    first = prepare_to(tmp_path, "mnist", mirror / "mnist", "a")
    second = prepare_to(tmp_path, "mnist", mirror / "mnist", "b")
    assert first["train"].read_bytes() == second["train"].read_bytes()
    bmirror, _ = btsc_mirror
    first = prepare_to(tmp_path, "btsc", bmirror / "btsc", "c", EXPECTED_FIXTURE)
    second = prepare_to(tmp_path, "btsc", bmirror / "btsc", "d", EXPECTED_FIXTURE)
    assert first["test"].read_bytes() == second["test"].read_bytes()


def test_btsc_prepared_shapes_labels_and_counts(tmp_path, btsc_mirror):
    mirror, counts = btsc_mirror
    outputs = prepare_to(tmp_path, "btsc", mirror / "btsc", expected=EXPECTED_FIXTURE)
    train, test = load_prepared(outputs["train"]), load_prepared(outputs["test"])
    assert tuple(train["images"].shape) == (counts["train_images"], 3, 32, 32)
    assert tuple(test["images"].shape) == (counts["test_images"], 3, 32, 32)
    assert train["classes"] == 62
    assert sorted(train["labels"].unique().tolist()) == list(range(62))
    assert sorted(test["labels"].unique().tolist()) == list(range(53))
    # sorted by class: labels never decrease
    assert bool((train["labels"][1:] >= train["labels"][:-1]).all())


def test_btsc_equalises_the_value_channel():
    from PIL import Image

    rng = np.random.default_rng(0)
    dull = rng.integers(100, 140, size=(40, 44, 3), dtype=np.uint8)  # V spans ~40 levels
    out = btsc.preprocess(Image.fromarray(dull, "RGB"))
    assert out.shape == (3, 32, 32) and out.dtype == np.uint8
    value = out.max(axis=0).astype(int)  # V = max(R, G, B)
    assert value.max() - value.min() > 150  # stretched to (nearly) the full range


def test_btsc_unlisted_image_is_an_error(tmp_path):
    import fixtures

    mirror = tmp_path / "m"
    image = fixtures.ppm_bytes(np.full((32, 32, 3), 100, dtype=np.uint8))
    fixtures.write_btsc(mirror, extra_members=[("Training/00003/99999_00003.ppm", image)])
    expected = dict(EXPECTED_FIXTURE, train_images=2 * 62 + 1)
    with pytest.raises(ValueError, match="not in their GT csv"):
        prepare_to(tmp_path, "btsc", mirror / "btsc", expected=expected)


def test_idx_header_and_size_mismatch_are_errors(tmp_path, idx_mirror):
    mirror, _ = idx_mirror
    raw = tmp_path / "raw"
    shutil.copytree(mirror / "mnist", raw)
    labels = raw / "t10k-labels-idx1-ubyte.gz"
    with gzip.open(labels) as handle:
        blob = handle.read()
    with gzip.open(labels, "wb") as handle:
        handle.write(blob[:-3])  # the header still announces the full count
    with pytest.raises(ValueError, match="header announces"):
        prepare_to(tmp_path, "mnist", raw)
    assert not (tmp_path / "a" / "train.pt").exists()  # nothing half-written


def test_truncated_gzip_is_an_error(tmp_path, idx_mirror):
    mirror, _ = idx_mirror
    raw = tmp_path / "raw"
    shutil.copytree(mirror / "mnist", raw)
    images = raw / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:200])
    with pytest.raises(ValueError, match="not a complete gzip file"):
        prepare_to(tmp_path, "mnist", raw)


def test_load_prepared_refuses_corrupt_and_foreign_files(tmp_path, idx_mirror):
    mirror, _ = idx_mirror
    outputs = prepare_to(tmp_path, "mnist", mirror / "mnist")
    path = outputs["test"]
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValueError, match="is not a complete archive.*rebuilds that file"):
        load_prepared(path)
    assert path.stat().st_mtime == 0  # older than its sources: the next run rebuilds it
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ValueError, match="not written by prepare"):
        load_prepared(foreign)


def test_a_btsc_member_over_the_cap_is_refused_before_it_is_inflated(tmp_path, monkeypatch):
    """A member that inflates far beyond any image (a zip bomb) is refused by its declared size,
    with its name and sizes; nothing is read into memory."""
    import fixtures

    mirror = tmp_path / "m"
    big = btsc.MAX_MEMBER_BYTES + 1
    fixtures.write_btsc(mirror, extra_members=[("Training/00003/bomb.ppm", bytes(big))])
    archive = mirror / "btsc" / "BelgiumTSC_Training.zip"
    monkeypatch.setattr(btsc.zipfile.ZipFile, "testzip", lambda self: pytest.fail("a member was inflated"))
    with pytest.raises(ValueError) as error:
        btsc.inspect_zip(archive)
    assert f"member 'Training/00003/bomb.ppm' inflates to {big} bytes from " in str(error.value)
    assert f"(cap {btsc.MAX_MEMBER_BYTES} bytes a member)" in str(error.value)


def test_a_btsc_member_is_read_no_further_than_the_cap_whatever_its_header_says(tmp_path, monkeypatch):
    import zipfile

    path = tmp_path / "z.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Training/00000/a.ppm", bytes(5000))
    monkeypatch.setattr(btsc, "MAX_MEMBER_BYTES", 4096)  # the member's 5,000 bytes exceed it
    with zipfile.ZipFile(path) as archive, pytest.raises(ValueError, match="inflates beyond 4096 bytes"):
        btsc.read_member(archive, "Training/00000/a.ppm", path)


def test_an_unreadable_raw_file_is_moved_aside_so_the_next_run_downloads_it(tmp_path, idx_mirror):
    mirror, _ = idx_mirror
    raw = tmp_path / "raw"
    shutil.copytree(mirror / "mnist", raw)
    labels = raw / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(b"")
    with pytest.raises(ValueError) as error:
        prepare_to(tmp_path, "mnist", raw)
    assert f"{labels}: too short for an IDX header (0 bytes)" in str(error.value)
    assert f"moved to {labels}.broken: the same snakemake command downloads it again" in str(error.value)
    assert not labels.exists() and (raw / "t10k-labels-idx1-ubyte.gz.broken").read_bytes() == b""
    assert (raw / "t10k-images-idx3-ubyte.gz").exists()  # the readable files stay


def test_a_btsc_zip_with_a_bomb_image_is_named_and_moved_aside_by_prepare(tmp_path):
    """A zip downloaded before headers were checked at download time: prepare names the member
    and moves the zip aside, so that the same command downloads it again."""
    import fixtures

    from aedefense.files.io import DamagedInput

    raw = tmp_path / "raw"
    member = "Training/00004/00000_00004.ppm"
    counts = fixtures.write_btsc(raw, replaced={member: b"P6\n100000 100000\n255\n" + bytes(64)})
    with pytest.raises(DamagedInput) as error:
        prepare("btsc", raw / "btsc", {s: tmp_path / f"{s}.pt" for s in ("train", "test")}, counts)
    assert f"member '{member}' is not a readable image (DecompressionBombError" in str(error.value)
    assert "moved to" in str(error.value) and (raw / "btsc" / "BelgiumTSC_Training.zip.broken").exists()
