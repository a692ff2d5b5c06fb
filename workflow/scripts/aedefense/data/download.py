"""Download one dataset file from the official hosts or a mirror, and verify it.

A mirror is a directory, or a file://, http:// or https:// prefix, laid out as
<mirror>/<dataset>/<official file name>, with an optional MD5SUMS or SHA256SUMS manifest at
its root (md5sum format, paths relative to the root). Expected checksums, first found wins:
the mirror's manifest, the published MD5 of the official file, the lock file (sha256 recorded
at the first download of a file with no published checksum).
"""

from __future__ import annotations

import fcntl
import hashlib
import http.client
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aedefense.data.sources import official_file
from aedefense.jobs.io import atomic_path

CHUNK = 1 << 20
MANIFESTS = (("SHA256SUMS", "sha256"), ("MD5SUMS", "md5"))


class DownloadError(RuntimeError):
    """A file could not be fetched or did not verify."""


class TransientError(DownloadError):
    """A network failure that may pass: worth another attempt."""


@dataclass(frozen=True)
class Mirror:
    """A parsed mirror setting: a local directory or a URL prefix (no trailing slash)."""

    directory: Path | None = None
    url: str | None = None

    def locate(self, relpath: str) -> str:
        if self.directory is not None:
            return str(self.directory / relpath)
        return f"{self.url}/{relpath}"

    def __str__(self) -> str:
        return str(self.directory) if self.directory is not None else str(self.url)


def parse_mirror(text: str) -> Mirror:
    parsed = urllib.parse.urlparse(text)
    if parsed.scheme in ("http", "https"):
        return Mirror(url=text.rstrip("/"))
    if parsed.scheme == "file":
        directory = Path(urllib.parse.unquote(parsed.path))
    elif parsed.scheme == "" or (len(parsed.scheme) == 1 and text[1:2] == ":"):
        directory = Path(text).expanduser()
    else:
        raise DownloadError(
            f"mirror {text!r}: the scheme {parsed.scheme!r} is not supported; use a directory, "
            "file://, http:// or https://"
        )
    if not directory.is_dir():
        raise DownloadError(
            f"mirror {text!r}: {directory} is not a directory. Give an existing directory laid "
            "out as <mirror>/<dataset>/<file>, or a http(s):// prefix."
        )
    return Mirror(directory=directory.resolve())


@dataclass(frozen=True)
class Checksum:
    algorithm: str  # md5 | sha256
    hexdigest: str
    origin: str  # where the expected value came from, for messages


def _read_source(location: str, timeout_s: float) -> bytes | None:
    """A small file (a manifest) from a directory or URL; None if it is not there."""
    if "://" not in location:
        path = Path(location)
        return path.read_bytes() if path.is_file() else None
    try:
        with urllib.request.urlopen(location, timeout=timeout_s) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise DownloadError(f"cannot read {location}: HTTP {error.code} {error.reason}") from None
    except (OSError, http.client.HTTPException) as error:
        raise DownloadError(f"cannot read {location}: {error}") from None


def mirror_checksum(mirror: Mirror, relpath: str, timeout_s: float) -> Checksum | None:
    for manifest, algorithm in MANIFESTS:
        location = mirror.locate(manifest)
        text = _read_source(location, timeout_s)
        if text is None:
            continue
        for line in text.decode("utf-8", "replace").splitlines():
            parts = line.strip().split(None, 1)
            if len(parts) == 2 and parts[1].lstrip("*").removeprefix("./") == relpath:
                return Checksum(algorithm, parts[0].lower(), f"the mirror's {manifest}")
    return None


class LockFile:
    """sha256 sums of files that have no published checksum, one '<sha256>  <relpath>' a line."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def _entries(self, text: str) -> dict[str, str]:
        entries = {}
        for line in text.splitlines():
            parts = line.split(None, 1)
            if len(parts) == 2 and not line.startswith("#"):
                entries[parts[1].strip()] = parts[0].lower()
        return entries

    def get(self, relpath: str) -> Checksum | None:
        if not self.path.is_file():
            return None
        digest = self._entries(self.path.read_text()).get(relpath)
        return Checksum("sha256", digest, f"the lock file {self.path}") if digest else None

    def record(self, relpath: str, sha256: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # two downloads may record at once
            handle.seek(0)
            text = handle.read()
            if relpath not in self._entries(text):
                if not text:
                    handle.write(
                        "# sha256 of the first verified download of files with no published\n"
                        "# checksum; later downloads must match. Keep this file with the workflow.\n"
                    )
                handle.write(f"{sha256}  {relpath}\n")


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, TransientError):
        return True
    if isinstance(error, urllib.error.HTTPError):
        return error.code in (408, 425, 429) or error.code >= 500
    if isinstance(error, urllib.error.URLError):
        if isinstance(error.reason, socket.gaierror):
            # "Name or service not known": the name does not resolve, and will not on a retry;
            # only "temporary failure in name resolution" may pass
            return error.reason.errno == socket.EAI_AGAIN
        return isinstance(error.reason, (OSError, socket.timeout))
    return isinstance(error, (TimeoutError, ConnectionError, http.client.HTTPException))


def _does_not_resolve(error: BaseException) -> bool:
    """A host name that the resolver says does not exist (not a temporary failure)."""
    return (
        isinstance(error, urllib.error.URLError)
        and isinstance(error.reason, socket.gaierror)
        and error.reason.errno != socket.EAI_AGAIN
    )


def _copy_once(location: str, tmp: Path, timeout_s: float) -> dict[str, str]:
    """Copy `location` to `tmp`; return its md5 and sha256."""
    digests = {"md5": hashlib.md5(), "sha256": hashlib.sha256()}
    expected_size = None
    if "://" in location:
        source = urllib.request.urlopen(location, timeout=timeout_s)
        length = source.headers.get("Content-Length")
        expected_size = int(length) if length and length.isdigit() else None
    else:
        source = open(location, "rb")
    size = 0
    with source, open(tmp, "wb") as sink:
        while chunk := source.read(CHUNK):
            size += len(chunk)
            for digest in digests.values():
                digest.update(chunk)
            sink.write(chunk)
    if expected_size is not None and size != expected_size:
        raise TransientError(f"truncated transfer: got {size} of {expected_size} bytes announced by the server")
    return {name: digest.hexdigest() for name, digest in digests.items()}


def _copy_with_retries(location, tmp, attempts, backoff_s, timeout_s, log) -> dict[str, str]:
    for attempt in range(1, attempts + 1):
        try:
            return _copy_once(location, tmp, timeout_s)
        except FileNotFoundError:
            raise DownloadError(f"{location} does not exist") from None
        except Exception as error:  # noqa: BLE001 - sorted into transient or not just below
            if _does_not_resolve(error):
                host = urllib.parse.urlparse(location).hostname
                raise DownloadError(
                    f"{location}: the host name {host} does not resolve ({error.reason.strerror}): this machine "
                    "has no network or no DNS (cluster compute nodes often have neither). Run the download where "
                    "there is network (the download rule runs where snakemake runs, so run the same command on a "
                    "login node), or copy the files into a directory laid out as <DIR>/<dataset>/<file> and give "
                    "--config mirror=<DIR>"
                ) from None
            if not _is_transient(error):
                raise DownloadError(f"{location}: {type(error).__name__}: {error}") from None
            if attempt == attempts:
                raise DownloadError(f"{location}: {error} (transient; gave up after {attempts} attempts)") from None
            wait = backoff_s * 2 ** (attempt - 1)
            log(f"  {location}: {error}; attempt {attempt}/{attempts}, retrying in {wait:.1f} s")
            time.sleep(wait)
    raise AssertionError("unreachable")


def fetch(
    dataset: str,
    name: str,
    dest: str | Path,
    mirror: str | None,
    lock_path: str | Path,
    attempts: int = 4,
    backoff_s: float = 2.0,
    timeout_s: float = 60.0,
    verify: Callable[[Path], None] | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Fetch dataset/name to `dest`, verified; nothing is left at `dest` on failure.

    `verify` is an extra check of the fetched file (e.g. a zip's structure), run before a
    checksum is recorded in the lock file.
    """
    entry = official_file(dataset, name)
    relpath = f"{dataset}/{name}"
    dest = Path(dest)
    lock = LockFile(lock_path)
    if mirror:
        parsed = parse_mirror(mirror)
        sources = [parsed.locate(relpath)]
        expected = mirror_checksum(parsed, relpath, timeout_s)
    else:
        sources = entry.urls
        expected = None
    if expected is None and entry.md5:
        expected = Checksum("md5", entry.md5, "the published MD5")
    if expected is None:
        expected = lock.get(relpath)
    log(
        f"{relpath}: expecting {expected.algorithm} {expected.hexdigest} from {expected.origin}"
        if expected
        else f"{relpath}: no checksum known yet; its sha256 will be recorded in {lock.path}"
    )

    failures = []
    for location in sources:
        log(f"{relpath}: fetching {location}")
        try:
            with atomic_path(dest) as tmp:  # renamed to dest only if the block succeeds
                digests = _copy_with_retries(location, tmp, attempts, backoff_s, timeout_s, log)
                actual = digests[expected.algorithm] if expected else None
                if expected and actual != expected.hexdigest:
                    raise DownloadError(
                        f"{location}: checksum mismatch: expected {expected.algorithm} "
                        f"{expected.hexdigest} (from {expected.origin}), got {actual}; the file "
                        "is corrupt, truncated, or a different release"
                    )
                if verify is not None:
                    try:
                        verify(tmp)
                    except ValueError as error:
                        vouched = (
                            f" (its checksum matches {expected.origin}, so that copy itself is broken: replace it)"
                            if expected
                            else ""
                        )
                        problem = str(error).replace(f"{tmp}: ", "").replace(str(tmp), "the file")
                        raise DownloadError(f"{location}: {problem}{vouched}") from None
                if expected is None:
                    lock.record(relpath, digests["sha256"])
                    log(f"{relpath}: recorded sha256 {digests['sha256']} in {lock.path}")
        except DownloadError as error:
            failures.append(str(error))
            log(f"{relpath}: failed: {error}")
            continue
        log(f"{relpath}: verified, saved to {dest}")
        return dest

    raise DownloadError(
        f"could not get a verified copy of {relpath} for {dest}.\n"
        + "".join(f"  tried {failure}\n" for failure in failures)
        + "To supply it by hand: download it from "
        + " or ".join(entry.urls)
        + f", put it at <DIR>/{relpath}, and run again with --config mirror=<DIR> "
        "(an MD5SUMS or SHA256SUMS file in <DIR> listing it makes its sums the expected ones)."
        + f" Or leave {dataset} out: --config 'datasets=[...]' with the others."
    )


def missing_from_mirror(mirror: str, datasets, resources: Path) -> list[str]:
    """The official files of `datasets` that a directory mirror lacks and that are not
    downloaded yet: everything a run on that mirror will miss, for one message."""
    try:
        directory = parse_mirror(mirror).directory
    except DownloadError:
        return []
    if directory is None:  # a URL mirror: nothing to list without fetching
        return []
    from aedefense.data.sources import official_files

    return [
        f"{dataset}/{entry.name}"
        for dataset in datasets
        for entry in official_files(dataset)
        if not (directory / dataset / entry.name).is_file() and not (resources / dataset / entry.name).is_file()
    ]


def download_one(dataset, name, dest, log_path, mirror, lock_path, settings, btsc_expected, datasets=()):
    """The download rule's body: fetch and verify one file, logging to the rule's log. A
    failure from a directory mirror also names every other file of `datasets` it lacks."""
    from aedefense.data.btsc import verify_zip
    from aedefense.data.idx import read_idx
    from aedefense.data.sources import BTSC_FILES
    from aedefense.plan.datasets import dataset_info

    if dataset_info(dataset).layout == "btsc-zip":
        split = {file: split for split, file in BTSC_FILES.items()}[name]
        classes = dataset_info(dataset).classes
        verify = lambda path: verify_zip(path, split, btsc_expected, classes)  # noqa: E731
    else:
        verify = read_idx  # a complete gzip holding a well-formed IDX array
    with open(log_path, "w", buffering=1) as log:
        try:
            _fetch_logged(dataset, name, dest, mirror, lock_path, settings, verify, log)
        except DownloadError as error:
            missing = missing_from_mirror(mirror, datasets, Path(dest).parents[1]) if mirror else []
            if len(missing) > 1:
                raise DownloadError(
                    f"{error}\nThe mirror {mirror} lacks every one of these files of the run "
                    f"(datasets {', '.join(datasets)}): {', '.join(missing)}."
                ) from None
            raise


def _fetch_logged(dataset, name, dest, mirror, lock_path, settings, verify, log):
    fetch(
        dataset,
        name,
        dest,
        mirror,
        lock_path,
        attempts=settings["attempts"],
        backoff_s=settings["backoff_s"],
        timeout_s=settings["timeout_s"],
        verify=verify,
        log=lambda line: print(line, file=log),
    )
