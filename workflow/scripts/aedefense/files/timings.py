"""Each job's timing record (`<log without .log>.timing.json` beside its log): where it goes and
how a run's records are read back (report/status, benchmarks/profile_run)."""

from __future__ import annotations

import json
from pathlib import Path

# Records written before the defence wildcard got its name call it "ae" (the results path
# segment it fills is still `ae/`); read back, they use today's name.
OLD_WILDCARD_NAMES = {"ae": "defence"}


def timing_path(log_path: str) -> Path:
    log = Path(log_path)
    return log.with_name(log.name.removesuffix(".log") + ".timing.json")


def read_timing_records(directory: Path) -> list[tuple[Path, dict]]:
    """(path, record) of every job that finished under `directory`/logs, in path order; a
    record being written (unreadable now) is left out.

    >>> import tempfile
    >>> run = Path(tempfile.mkdtemp())
    >>> (run / "logs").mkdir()
    >>> _ = (run / "logs" / "a.timing.json").write_text('{"rule": "attack", "wildcards": {"ae": "none"}}')
    >>> [record["wildcards"] for _, record in read_timing_records(run)]
    [{'defence': 'none'}]
    """
    found = []
    for path in sorted((Path(directory) / "logs").rglob("*.timing.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        wildcards = record.get("wildcards", {})
        record["wildcards"] = {OLD_WILDCARD_NAMES.get(key, key): value for key, value in wildcards.items()}
        found.append((path, record))
    return found
