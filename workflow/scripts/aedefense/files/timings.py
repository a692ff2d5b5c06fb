"""Each job's timing record (`<log without .log>.timing.json` beside its log): where it goes and
how a run's records are read back (cost/status, benchmarks/profile_run)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

# Records written before the defence wildcard got its name call it "ae" (the results path
# segment it fills is still `ae/`), as do the jobs an older checkout's Snakefile plans; read
# back, they use today's name.
OLD_WILDCARD_NAMES = {"ae": "defence"}


def with_todays_names(wildcards: dict) -> dict:
    return {OLD_WILDCARD_NAMES.get(key, key): value for key, value in wildcards.items()}


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
        record["wildcards"] = with_todays_names(record.get("wildcards", {}))
        found.append((path, record))
    return found


def read_job_times(directory: Path) -> list[dict]:
    r"""Every finished job's timing record with `wall_s`, its whole wall time: Snakemake's
    benchmark file beside the record where there is one (it also holds what the job's process
    spent before Python ran its first line), else the phases the job timed itself (else its
    start to its finish).

    >>> import tempfile
    >>> run = Path(tempfile.mkdtemp())
    >>> (run / "logs").mkdir()
    >>> phases = {f"{p}_s": 1.0 for p in ("startup", "load", "compute", "save", "other")}
    >>> _ = (run / "logs" / "a.timing.json").write_text(json.dumps({"rule": "attack", **phases}))
    >>> [record["wall_s"] for record in read_job_times(run)]
    [5.0]
    >>> _ = (run / "logs" / "a.benchmark.tsv").write_text("s\th:m:s\n7.5\t0:00:07\n")
    >>> [record["wall_s"] for record in read_job_times(run)]
    [7.5]
    """
    jobs = []
    for path, record in read_timing_records(directory):
        phases = sum(record.get(f"{p}_s", 0.0) for p in ("startup", "load", "compute", "save", "other"))
        record["wall_s"] = phases or record.get("finished_at", 0.0) - record.get("started_at", 0.0)
        benchmark = path.with_name(path.name.removesuffix(".timing.json") + ".benchmark.tsv")
        if benchmark.exists():
            with open(benchmark) as handle:
                row = next(csv.DictReader(handle, delimiter="\t"), None)
            if row and row.get("s"):
                record["wall_s"] = max(float(row["s"]), phases)
        jobs.append(record)
    return jobs
