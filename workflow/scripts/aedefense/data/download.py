"""Download one dataset file from the official hosts or a mirror, and verify it.

A mirror is a directory, or a file://, http:// or https:// prefix, laid out as
<mirror>/<dataset>/<official file name>, with an optional MD5SUMS or SHA256SUMS manifest at
its root (md5sum format, paths relative to the root). Expected checksums: the published MD5 of
the official file where there is one (MNIST, Fashion-MNIST), and the mirror's manifest where it
lists the file; a manifest that contradicts the published MD5 is refused, unless the config
says that the mirror's list replaces it (mirror_checksums: mirror, for a mirror of re-made
files). A file with no published checksum needs the manifest or the lock file (its sha256,
recorded at its first download). Each file has a deadline for the whole transfer, and a
host that does not resolve or refuses the connection gets a hint, on every read.
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
from functools import partial
from pathlib import Path

from aedefense.data.sources import official_file
from aedefense.files.io import atomic_path

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
        raise


def mirror_checksum(
    mirror: Mirror, relpath: str, timeout_s: float, attempts: int = 1, backoff_s: float = 0.0, log=print
) -> Checksum | None:
    for manifest, algorithm in MANIFESTS:
        location = mirror.locate(manifest)
        text = _with_retries(partial(_read_source, location, timeout_s), location, attempts, backoff_s, log)
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


def _unreachable(location: str, error: BaseException) -> DownloadError | None:
    """The error with its fix for a host that does not resolve or refuses the connection."""
    host = urllib.parse.urlparse(location).hostname
    reason = getattr(error, "reason", error)
    if _does_not_resolve(error):
        problem = f"the host name {host} does not resolve ({reason.strerror})"
    elif isinstance(reason, ConnectionRefusedError):
        problem = f"{host} refused the connection ({reason.strerror})"
    else:
        return None
    return DownloadError(
        f"{location}: {problem}: this machine has no network, no DNS or no route there (cluster compute nodes "
        "often have none). Run the download where there is network (the download rule runs where snakemake runs, "
        "so run the same command on a login node), or copy the files into a directory laid out as "
        "<DIR>/<dataset>/<file> and give --config mirror=<DIR>"
    )


def _with_retries(action: Callable, location: str, attempts: int, backoff_s: float, log):
    """action() again after a transient network error, up to `attempts` times, each error
    named with its location (and with its fix where the host cannot be reached)."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except FileNotFoundError:
            raise DownloadError(f"{location} does not exist") from None
        except Exception as error:  # noqa: BLE001 - sorted into transient or not just below
            if isinstance(error, DownloadError) and not isinstance(error, TransientError):
                raise
            unreachable = _unreachable(location, error)
            if unreachable is not None:
                raise unreachable from None
            if not _is_transient(error):
                raise DownloadError(f"{location}: {type(error).__name__}: {error}") from None
            if attempt == attempts:
                raise DownloadError(f"{location}: {error} (transient; gave up after {attempts} attempts)") from None
            wait = backoff_s * 2 ** (attempt - 1)
            log(f"  {location}: {error}; attempt {attempt}/{attempts}, retrying in {wait:.1f} s")
            time.sleep(wait)
    raise AssertionError("unreachable")


class DeadlineExceeded(DownloadError):
    """The whole transfer took longer than download.deadline_s."""


def _copy_once(location: str, tmp: Path, timeout_s: float, deadline: float) -> dict[str, str]:
    """Copy `location` to `tmp` before the time.monotonic() `deadline`; return its md5 and sha256."""
    digests = {"md5": hashlib.md5(), "sha256": hashlib.sha256()}
    expected_size = None
    if "://" in location:
        source = urllib.request.urlopen(location, timeout=timeout_s)
        length = source.headers.get("Content-Length")
        expected_size = int(length) if length and length.isdigit() else None
        read = source.read1  # returns what has arrived: a slow server cannot hold a read past the deadline
    else:
        source = open(location, "rb")
        read = source.read
    size = 0
    with source, open(tmp, "wb") as sink:
        while chunk := read(CHUNK):
            size += len(chunk)
            for digest in digests.values():
                digest.update(chunk)
            sink.write(chunk)
            if time.monotonic() > deadline:
                announced = f" of {expected_size}" if expected_size is not None else ""
                raise DeadlineExceeded(f"{location}: not complete by its deadline: {size}{announced} bytes")
    if expected_size is not None and size != expected_size:
        raise TransientError(f"truncated transfer: got {size} of {expected_size} bytes announced by the server")
    return {name: digest.hexdigest() for name, digest in digests.items()}


def expected_checksums(relpath: str, published, listed, trust_mirror: bool) -> list:
    """The checksums a download must match: the published one where the dataset has one, and
    the mirror's listed one; the mirror's alone where it is trusted to replace the published
    one. A list that contradicts the published checksum is refused before anything is fetched:
    any mirror could otherwise vouch for any well-formed file."""
    if published is None or listed is None:
        return [c for c in (published, listed) if c is not None]
    if trust_mirror:
        return [Checksum(listed.algorithm, listed.hexdigest, f"{listed.origin} (in place of the published MD5)")]
    if listed.algorithm == published.algorithm and listed.hexdigest != published.hexdigest:
        raise DownloadError(
            f"{relpath}: {listed.origin} lists {listed.algorithm} {listed.hexdigest}, the published checksum is "
            f"{published.hexdigest}: the mirror holds another file than the official release. Use a mirror of the "
            "official files; or, if the mirror's files are meant (files re-made or re-split on purpose), say so "
            "with --config mirror_checksums=mirror, and its list replaces the published checksums"
        )
    return [published, listed]


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
    deadline_s: float = 3600.0,
    trust_mirror: bool = False,
) -> Path:
    """Fetch dataset/name to `dest`, verified; nothing is left at `dest` on failure.

    `verify` is an extra check of the fetched file (e.g. a zip's structure), run before a
    checksum is recorded in the lock file. deadline_s: for the whole file, every attempt and
    source together. trust_mirror: the mirror's manifest replaces the published checksum.
    """
    entry = official_file(dataset, name)
    relpath = f"{dataset}/{name}"
    dest = Path(dest)
    lock = LockFile(lock_path)
    deadline = time.monotonic() + deadline_s
    published = Checksum("md5", entry.md5, "the published MD5") if entry.md5 else None
    listed = None
    if mirror:
        parsed = parse_mirror(mirror)
        sources = [parsed.locate(relpath)]
        listed = mirror_checksum(parsed, relpath, timeout_s, attempts, backoff_s, log)
    else:
        sources = entry.urls
    expected = expected_checksums(relpath, published, listed, trust_mirror) or [lock.get(relpath)]
    expected = [checksum for checksum in expected if checksum is not None]
    for checksum in expected:
        log(f"{relpath}: expecting {checksum.algorithm} {checksum.hexdigest} from {checksum.origin}")
    if not expected:
        log(f"{relpath}: no checksum known yet; its sha256 will be recorded in {lock.path}")

    failures = []
    for location in sources:
        log(f"{relpath}: fetching {location}")
        try:
            with atomic_path(dest) as tmp:  # renamed to dest only if the block succeeds
                digests = _with_retries(
                    partial(_copy_once, location, tmp, timeout_s, deadline), location, attempts, backoff_s, log
                )
                for checksum in expected:
                    if digests[checksum.algorithm] != checksum.hexdigest:
                        raise DownloadError(
                            f"{location}: checksum mismatch: expected {checksum.algorithm} "
                            f"{checksum.hexdigest} (from {checksum.origin}), got {digests[checksum.algorithm]}; "
                            "the file is corrupt, truncated, or a different release"
                        )
                if verify is not None:
                    try:
                        verify(tmp)
                    except ValueError as error:
                        vouched = (
                            f" (its checksum matches {' and '.join(c.origin for c in expected)}, so that copy itself "
                            "is broken: replace it)"
                            if expected
                            else ""
                        )
                        problem = str(error).replace(f"{tmp}: ", "").replace(str(tmp), "the file")
                        raise DownloadError(f"{location}: {problem}{vouched}") from None
                if not expected:
                    lock.record(relpath, digests["sha256"])
                    log(f"{relpath}: recorded sha256 {digests['sha256']} in {lock.path}")
        except DeadlineExceeded as error:
            raise DownloadError(
                f"{error}, after download.deadline_s = {deadline_s:g} s for the whole file. The source is too slow "
                "or stalled: raise download.deadline_s in a --configfile, or copy the file by hand into a mirror "
                "(--config mirror=<DIR>)"
            ) from None
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


def unreachable_downloads(files: list[tuple[str, str]], mirror: str | None, timeout_s: float = 5.0) -> list[str]:
    """What a run's downloads (dataset, file name) cannot get from here, said before anything
    runs: files a directory mirror lacks, or hosts (the mirror's or the official ones) whose
    names do not resolve. Only names are looked up; nothing is fetched."""
    if mirror:
        try:
            parsed = parse_mirror(mirror)
        except DownloadError as error:
            return [str(error)]
        if parsed.directory is not None:
            return [
                f"{dataset}/{name}: not in the mirror {parsed.directory}"
                for dataset, name in files
                if not (parsed.directory / dataset / name).is_file()
            ]
        hosts = {urllib.parse.urlparse(parsed.url).hostname: [f"{d}/{n}" for d, n in files]}
    else:
        hosts = {}
        for dataset, name in files:
            for url in official_file(dataset, name).urls:
                hosts.setdefault(urllib.parse.urlparse(url).hostname, []).append(f"{dataset}/{name}")
    problems = []
    failing = [host for host in hosts if not _resolves(host, timeout_s)]
    if hosts and len(failing) == len(hosts):  # a file is had from any one of its hosts
        for host in failing:
            problems.append(f"{', '.join(sorted(set(hosts[host])))}: the host {host} does not resolve from here")
    return problems


def _resolves(host: str, timeout_s: float) -> bool:
    """Whether `host` resolves within timeout_s (looked up in a thread: getaddrinfo has no
    timeout of its own)."""
    import concurrent.futures

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        pool.submit(socket.getaddrinfo, host, 443).result(timeout=timeout_s)
        return True
    except (OSError, concurrent.futures.TimeoutError):
        return False
    finally:
        pool.shutdown(wait=False)


def download_one(dataset, name, dest, log_path, mirror, lock_path, settings, expected, datasets=(), trust_mirror=False):
    """The download rule's body: fetch and verify one file, logging to the rule's log. A
    failure from a directory mirror also names every other file of `datasets` it lacks.
    trust_mirror: the mirror's checksum list replaces the published checksums."""
    from aedefense.data.sources import reader_of
    from aedefense.plan.datasets import dataset_info, file_format

    info = dataset_info(dataset)
    split = file_format(info.layout).split_of(name)
    reader = reader_of(dataset)
    verify = lambda path: reader.verify_file(path, split, info, expected)  # noqa: E731
    with open(log_path, "w", buffering=1) as log:
        try:
            _fetch_logged(dataset, name, dest, mirror, lock_path, settings, verify, log, trust_mirror)
        except DownloadError as error:
            missing = missing_from_mirror(mirror, datasets, Path(dest).parents[1]) if mirror else []
            if len(missing) > 1:
                raise DownloadError(
                    f"{error}\nThe mirror {mirror} lacks every one of these files of the run "
                    f"(datasets {', '.join(datasets)}): {', '.join(missing)}."
                ) from None
            raise


def _fetch_logged(dataset, name, dest, mirror, lock_path, settings, verify, log, trust_mirror):
    fetch(
        dataset,
        name,
        dest,
        mirror,
        lock_path,
        attempts=settings["attempts"],
        backoff_s=settings["backoff_s"],
        timeout_s=settings["timeout_s"],
        deadline_s=settings["deadline_s"],
        trust_mirror=trust_mirror,
        verify=verify,
        log=lambda line: print(line, file=log),
    )
