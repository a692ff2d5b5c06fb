"""Download and verification through directory, file:// and http:// mirrors (no network)."""

import hashlib
import time
import zipfile

import fixtures
import pytest

from aedefense.data.download import DownloadError, LockFile, fetch, parse_mirror

NAME = "t10k-images-idx3-ubyte.gz"


def fetch_mnist(mirror, dest_dir, lock, **kwargs):
    """One MNIST file from a fixture mirror: its files are not the official release, so its
    checksum list stands for the published one (mirror_checksums: mirror) unless told not to."""
    kwargs.setdefault("trust_mirror", True)
    return fetch("mnist", NAME, dest_dir / NAME, str(mirror), lock, backoff_s=0, **kwargs)


def no_leftovers(folder):
    return [p.name for p in folder.iterdir() if ".part" in p.name] == []


def test_directory_mirror_with_manifest(idx_mirror, tmp_path):
    mirror, _ = idx_mirror
    dest = tmp_path / "out"
    lines = []
    path = fetch_mnist(mirror, dest, tmp_path / "lock", log=lines.append)
    assert path.read_bytes() == (mirror / "mnist" / NAME).read_bytes()
    assert any("the mirror's MD5SUMS" in line for line in lines)
    assert not (tmp_path / "lock").exists()  # a known checksum is never recorded


def test_file_url_mirror_and_sha256_manifest(tmp_path):
    mirror = tmp_path / "m"
    fixtures.write_idx_dataset(mirror, "mnist")
    fixtures.write_manifest(mirror, "sha256")
    lines = []
    fetch_mnist(mirror.as_uri(), tmp_path / "out", tmp_path / "lock", log=lines.append)
    assert (tmp_path / "out" / NAME).exists()
    assert any("sha256" in line and "SHA256SUMS" in line for line in lines)


def test_checksum_mismatch_names_file_source_sums_and_fix(idx_mirror, tmp_path):
    mirror, _ = idx_mirror
    manifest = mirror / "MD5SUMS"
    wrong = "0" * 32
    manifest.write_text(
        "\n".join(
            f"{wrong}  {line.split()[1]}" if NAME in line and "mnist/" == line.split()[1][:6] else line
            for line in manifest.read_text().splitlines()
        )
    )
    dest = tmp_path / "out"
    with pytest.raises(DownloadError) as caught:
        fetch_mnist(mirror, dest, tmp_path / "lock")
    message = str(caught.value)
    actual = hashlib.md5((mirror / "mnist" / NAME).read_bytes()).hexdigest()
    assert f"mnist/{NAME}" in message
    assert str(mirror / "mnist" / NAME) in message  # the source tried
    assert wrong in message and actual in message  # expected and actual
    assert "--config mirror=" in message  # how to supply it by hand
    assert not (dest / NAME).exists()
    assert no_leftovers(dest)


def test_truncated_file_in_mirror_fails_cleanly(idx_mirror, tmp_path):
    mirror, _ = idx_mirror
    source = mirror / "mnist" / NAME
    source.write_bytes(source.read_bytes()[:100])  # manifest still lists the full file's sum
    dest = tmp_path / "out"
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch_mnist(mirror, dest, tmp_path / "lock")
    assert not (dest / NAME).exists() and no_leftovers(dest)


def test_without_manifest_the_published_md5_is_required(tmp_path):
    mirror = tmp_path / "m"
    fixtures.write_idx_dataset(mirror, "mnist")  # fixture data: not the official file
    with pytest.raises(DownloadError, match="published MD5") as caught:
        fetch_mnist(mirror, tmp_path / "out", tmp_path / "lock", trust_mirror=False)
    assert "f68b3c2dcbeaaa9fbdd348bbdeb94873" in str(caught.value) or "9fb629c4" in str(caught.value)


def test_missing_file_in_mirror(idx_mirror, tmp_path):
    mirror, _ = idx_mirror
    (mirror / "mnist" / NAME).unlink()
    with pytest.raises(DownloadError, match="does not exist"):
        fetch_mnist(mirror, tmp_path / "out", tmp_path / "lock")


def test_http_mirror_retries_transient_errors(idx_mirror, tmp_path, http_mirror):
    mirror, _ = idx_mirror
    url, server = http_mirror(mirror)
    # requests: SHA256SUMS (absent: 404), MD5SUMS, then the file: a 503, a truncated body, ok
    server.faults = [None, None, "status:503", "truncate"]
    lines = []
    fetch_mnist(url, tmp_path / "out", tmp_path / "lock", attempts=3, log=lines.append)
    assert (tmp_path / "out" / NAME).read_bytes() == (mirror / "mnist" / NAME).read_bytes()
    assert server.requests.count(f"/mnist/{NAME}") == 3
    retries = [line for line in lines if "retrying" in line]
    assert len(retries) == 2 and "503" in retries[0] and "truncated" in retries[1]


def test_http_mirror_gives_up_after_attempts(idx_mirror, tmp_path, http_mirror):
    mirror, _ = idx_mirror
    url, server = http_mirror(mirror, faults=[None, None] + ["status:503"] * 5)
    dest = tmp_path / "out"
    with pytest.raises(DownloadError, match="gave up after 3 attempts"):
        fetch_mnist(url, dest, tmp_path / "lock", attempts=3)
    assert server.requests.count(f"/mnist/{NAME}") == 3
    assert not (dest / NAME).exists() and no_leftovers(dest)


def test_http_permanent_error_is_not_retried(idx_mirror, tmp_path, http_mirror):
    mirror, _ = idx_mirror
    url, server = http_mirror(mirror, faults=[None, None, "status:403"])
    with pytest.raises(DownloadError, match="403"):
        fetch_mnist(url, tmp_path / "out", tmp_path / "lock", attempts=4)
    assert server.requests.count(f"/mnist/{NAME}") == 1


def test_a_name_that_does_not_resolve_fails_at_once(tmp_path, monkeypatch):
    import socket
    import urllib.error

    from aedefense.data import download

    calls = []

    def failing_with(errno, text):
        def urlopen(url, timeout):
            if url.endswith("SUMS"):  # the mirror has no manifest
                raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)
            calls.append(url)
            raise urllib.error.URLError(socket.gaierror(errno, text))

        return urlopen

    monkeypatch.setattr(
        download.urllib.request, "urlopen", failing_with(socket.EAI_NONAME, "Name or service not known")
    )
    with pytest.raises(DownloadError) as error:
        fetch_mnist("https://mirror.example/data", tmp_path / "out", tmp_path / "lock", attempts=4)
    # what happened, and the two ways out
    assert "the host name mirror.example does not resolve (Name or service not known)" in str(error.value)
    assert "run the same command on a login node" in str(error.value)
    assert "--config mirror=<DIR>" in str(error.value)
    assert calls == [f"https://mirror.example/data/mnist/{NAME}"]  # once: a retry cannot resolve it

    calls.clear()
    monkeypatch.setattr(
        download.urllib.request, "urlopen", failing_with(socket.EAI_AGAIN, "Temporary failure in name resolution")
    )
    with pytest.raises(DownloadError, match="gave up after 2 attempts"):
        fetch_mnist("https://mirror.example/data", tmp_path / "out", tmp_path / "lock", attempts=2)
    assert len(calls) == 2


def test_a_btsc_download_that_fails_says_how_to_leave_btsc_out(tmp_path):
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    with pytest.raises(DownloadError, match=r"Or leave btsc out: --config 'datasets=\[\.\.\.\]'"):
        fetch("btsc", "BelgiumTSC_Testing.zip", tmp_path / "out" / "x.zip", str(empty), tmp_path / "lock", backoff_s=0)


def test_unsupported_mirror_scheme_and_missing_directory(tmp_path):
    with pytest.raises(DownloadError, match="scheme 'ftp' is not supported"):
        parse_mirror("ftp://example.org/data")
    with pytest.raises(DownloadError, match="is not a directory"):
        parse_mirror(str(tmp_path / "absent"))


EXPECTED_FIXTURE = {"train_images": 2 * 62, "test_images": 53}


def fetch_btsc(mirror, dest_dir, lock, name="BelgiumTSC_Training.zip"):
    from aedefense.data.btsc import verify_zip

    split = "train" if "Training" in name else "test"
    return fetch(
        "btsc",
        name,
        dest_dir / name,
        str(mirror),
        lock,
        backoff_s=0,
        verify=lambda path: verify_zip(path, split, EXPECTED_FIXTURE, classes=62),
    )


def test_btsc_first_download_is_locked_and_later_ones_must_match(tmp_path):
    mirror = tmp_path / "m"
    fixtures.write_btsc(mirror, seed=3)  # no manifest: nothing published to check against
    lock = tmp_path / "checksums.lock"
    fetch_btsc(mirror, tmp_path / "a", lock)
    first = hashlib.sha256((mirror / "btsc" / "BelgiumTSC_Training.zip").read_bytes()).hexdigest()
    assert LockFile(lock).get("btsc/BelgiumTSC_Training.zip").hexdigest == first

    fetch_btsc(mirror, tmp_path / "b", lock)  # the same file again: accepted
    fixtures.write_btsc(mirror, seed=4)  # a different release of the zip
    with pytest.raises(DownloadError, match="the lock file"):
        fetch_btsc(mirror, tmp_path / "c", lock)
    assert not (tmp_path / "c" / "BelgiumTSC_Training.zip").exists()


def test_btsc_structure_is_checked_before_locking(tmp_path):
    mirror = tmp_path / "m"
    fixtures.write_btsc(mirror, train_per_class=1)  # 62 images where 124 are expected
    lock = tmp_path / "checksums.lock"
    with pytest.raises(DownloadError, match="62 images, expected 124"):
        fetch_btsc(mirror, tmp_path / "a", lock)
    assert LockFile(lock).get("btsc/BelgiumTSC_Training.zip") is None


@pytest.mark.parametrize("member", ["../../evil.txt", "/etc/evil", "Training/../../evil.ppm", "C:/evil.ppm"])
def test_btsc_zip_with_escaping_member_is_refused(tmp_path, member):
    mirror = tmp_path / "m"
    fixtures.write_btsc(mirror, extra_members=[(member, b"x")])
    with pytest.raises(DownloadError, match="would escape"):
        fetch_btsc(mirror, tmp_path / "a", tmp_path / "lock")
    assert not (tmp_path / "a" / "BelgiumTSC_Training.zip").exists()


def test_btsc_zip_with_symlink_member_is_refused(tmp_path):
    mirror = tmp_path / "m"
    fixtures.write_btsc(mirror)
    path = mirror / "btsc" / "BelgiumTSC_Training.zip"
    with zipfile.ZipFile(path, "a") as archive:
        info = zipfile.ZipInfo("Training/00000/link.ppm")
        info.external_attr = 0o120777 << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(DownloadError, match="would escape"):
        fetch_btsc(mirror, tmp_path / "a", tmp_path / "lock")


def test_btsc_corrupt_zip_is_refused(tmp_path):
    mirror = tmp_path / "m"
    fixtures.write_btsc(mirror)
    path = mirror / "btsc" / "BelgiumTSC_Training.zip"
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 3] ^= 0xFF  # flip a byte inside some member's data
    path.write_bytes(bytes(blob))
    with pytest.raises(DownloadError, match="CRC|corrupt"):
        fetch_btsc(mirror, tmp_path / "a", tmp_path / "lock")


def test_a_failure_from_a_directory_mirror_names_every_file_the_run_lacks(idx_mirror, tmp_path):
    from aedefense.data.download import download_one

    mirror, _ = idx_mirror
    (mirror / "mnist" / NAME).unlink()
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (mirror / "fashion-mnist" / name).unlink()
    settings = {"attempts": 1, "backoff_s": 0, "timeout_s": 5, "deadline_s": 60}
    dest = tmp_path / "resources" / "mnist" / NAME
    with pytest.raises(DownloadError) as error:
        download_one(
            "mnist",
            NAME,
            dest,
            tmp_path / "log",
            str(mirror),
            tmp_path / "lock",
            settings,
            None,
            ["mnist", "fashion-mnist", "btsc"],
            trust_mirror=True,
        )
    message = str(error.value)
    lacking = message.split("lacks every one of these files of the run")[1]
    for path in (
        f"mnist/{NAME}",
        "fashion-mnist/train-images-idx3-ubyte.gz",
        "fashion-mnist/t10k-labels-idx1-ubyte.gz",
        "btsc/BelgiumTSC_Training.zip",
        "btsc/BelgiumTSC_Testing.zip",
    ):
        assert path in lacking
    assert "mnist/train-images-idx3-ubyte.gz" not in lacking.replace("fashion-mnist/", "")


def test_a_broken_file_that_the_mirrors_manifest_vouches_for_is_refused(idx_mirror, tmp_path):
    mirror, _ = idx_mirror
    (mirror / "mnist" / NAME).write_bytes(b"")  # zero bytes, and MD5SUMS updated to match
    fixtures.write_manifest(mirror)
    with pytest.raises(DownloadError) as error:
        download_mnist(mirror, tmp_path)
    message = str(error.value)
    assert "not a complete gzip file" in message or "too short for an IDX header" in message
    assert "its checksum matches the mirror's MD5SUMS" in message
    assert "so that copy itself is broken: replace it" in message
    assert not (tmp_path / "out" / NAME).exists()


def download_mnist(mirror, tmp_path):
    """The download rule's body for one MNIST file: fetched, verified, checked as IDX."""
    from aedefense.data.download import download_one

    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    settings = {"attempts": 1, "backoff_s": 0, "timeout_s": 5, "deadline_s": 60}
    download_one(
        "mnist", NAME, out / NAME, tmp_path / "log", str(mirror), tmp_path / "lock", settings, None, trust_mirror=True
    )


# --- the official checksums, a deadline, and hints on every read ------------------------------


def test_the_published_checksum_wins_over_a_mirrors_list_unless_told(idx_mirror, tmp_path):
    """A mirror's MD5SUMS that contradicts MNIST's published MD5 is refused before anything is
    fetched, naming both and the setting that lets the mirror's list replace it."""
    mirror, _ = idx_mirror
    with pytest.raises(DownloadError) as error:
        fetch_mnist(mirror, tmp_path / "out", tmp_path / "lock", trust_mirror=False)
    message = str(error.value)
    listed = hashlib.md5((mirror / "mnist" / NAME).read_bytes()).hexdigest()
    assert f"the mirror's MD5SUMS lists md5 {listed}, the published checksum is 9fb629c4" in message
    assert "--config mirror_checksums=mirror" in message
    assert not (tmp_path / "out").exists()  # refused before anything was fetched
    lines = []
    fetch_mnist(mirror, tmp_path / "out", tmp_path / "lock", trust_mirror=True, log=lines.append)
    assert any("in place of the published MD5" in line for line in lines)


def test_a_sha256_list_beside_the_published_md5_must_match_both(tmp_path):
    mirror = tmp_path / "m"
    fixtures.write_idx_dataset(mirror, "mnist")
    fixtures.write_manifest(mirror, "sha256")  # another algorithm: both checksums are required
    with pytest.raises(DownloadError, match=r"checksum mismatch: expected md5 9fb629c4.* \(from the published MD5\)"):
        fetch_mnist(mirror, tmp_path / "out", tmp_path / "lock", trust_mirror=False)


def test_a_stalled_server_meets_the_whole_file_deadline(idx_mirror, tmp_path, http_mirror):
    mirror, _ = idx_mirror
    url, server = http_mirror(mirror, faults=[None, None, "slow"])  # the two lists, then the file
    started = time.monotonic()
    with pytest.raises(DownloadError) as error:
        fetch_mnist(url, tmp_path / "out", tmp_path / "lock", deadline_s=2, timeout_s=30, attempts=3)
    assert time.monotonic() - started < 20  # a guard against a hang; the deadline is 2 s
    message = str(error.value)
    assert "not complete by its deadline" in message and "download.deadline_s = 2 s" in message
    assert not (tmp_path / "out" / NAME).exists() and no_leftovers(tmp_path / "out")


def test_a_checksum_list_from_a_host_that_does_not_resolve_gets_the_hint(tmp_path, monkeypatch):
    import socket
    import urllib.error

    from aedefense.data import download

    def urlopen(url, timeout):
        raise urllib.error.URLError(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))

    monkeypatch.setattr(download.urllib.request, "urlopen", urlopen)
    with pytest.raises(DownloadError) as error:
        fetch_mnist("https://mirror.example/data", tmp_path / "out", tmp_path / "lock", attempts=3)
    message = str(error.value)
    assert message.startswith("https://mirror.example/data/SHA256SUMS: the host name mirror.example does not resolve")
    assert "run the same command on a login node" in message and "--config mirror=<DIR>" in message

    def refused(url, timeout):
        raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))

    monkeypatch.setattr(download.urllib.request, "urlopen", refused)
    with pytest.raises(DownloadError, match="mirror.example refused the connection .Connection refused.: this machine"):
        fetch_mnist("https://mirror.example/data", tmp_path / "out", tmp_path / "lock", attempts=1)


BOMB = b"P6\n100000 100000\n255\n" + bytes(64)  # a header announcing 10^10 pixels
BOMB_MEMBER = "Training/00004/00000_00004.ppm"


def test_a_btsc_image_whose_header_is_a_decompression_bomb_is_refused_at_download(tmp_path):
    mirror = tmp_path / "m"
    fixtures.write_btsc(mirror, replaced={BOMB_MEMBER: BOMB})
    with pytest.raises(DownloadError) as error:
        fetch_btsc(mirror, tmp_path / "a", tmp_path / "lock")
    message = str(error.value)
    assert f"member '{BOMB_MEMBER}' is not a readable image (DecompressionBombError" in message
    assert not (tmp_path / "a" / "BelgiumTSC_Training.zip").exists() and not (tmp_path / "lock").exists()


def test_what_a_run_cannot_download_is_said_before_it_starts(idx_mirror, tmp_path, monkeypatch):
    from aedefense.data import download

    mirror, _ = idx_mirror
    (mirror / "mnist" / NAME).unlink()
    files = [("mnist", NAME), ("mnist", "train-images-idx3-ubyte.gz")]
    assert download.unreachable_downloads(files, str(mirror)) == [f"mnist/{NAME}: not in the mirror {mirror}"]
    monkeypatch.setattr(download, "_resolves", lambda host, timeout_s: False)
    problems = download.unreachable_downloads(files, None)
    assert any("the host ossci-datasets.s3.amazonaws.com does not resolve from here" in p for p in problems)
    monkeypatch.setattr(download, "_resolves", lambda host, timeout_s: host == "yann.lecun.com")
    assert download.unreachable_downloads(files, None) == []  # one host of each file is enough
