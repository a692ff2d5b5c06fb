"""The HTML report of a run, with the run's own options: `make report ARGS="..."`.

    python -m aedefense.report.build [--out report.html] [--force] [snakemake options]

Every run records its options (the config files with their sha256, the --config values) in
logs/run_settings.json when its jobs start. The report is built from what the run wrote
(every figure and table under results/), so a run of one figure or one preset gets its
report without naming targets. Options that differ from the run's are refused, each
difference named with the run's own command line, because a report built with other
options describes another configuration than the files it shows (--force builds it anyway).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

RUN_SETTINGS = Path("logs") / "run_settings.json"  # how the run was made, not a result


def recorded_run(directory) -> dict | None:
    """The options the run in `directory` recorded as its jobs started (RUN_SETTINGS); None
    where it recorded none."""
    path = Path(directory) / RUN_SETTINGS
    return json.loads(path.read_text()) if path.exists() else None


def options_of(configfiles, overrides) -> dict:
    """A run's options as recorded: each config file's absolute path and sha256, and the
    --config values."""
    from aedefense.files.provenance import sha256_of

    files = []
    for path in configfiles:
        path = Path(path).resolve()
        files.append({"path": str(path), "sha256": sha256_of(path) if path.is_file() else None})
    return {"configfiles": files, "config": {k: v for k, v in (overrides or {}).items()}}


def record_run(
    configfiles, overrides, snakefile: str | None = None, targets=(), rerun_triggers=None, dest: Path = RUN_SETTINGS
) -> None:
    """Write the options of the run that starts now, its Snakefile, targets and rerun triggers
    (the Snakefile's onstart; make status plans with them)."""
    from aedefense.files.io import atomic_path

    dest.parent.mkdir(parents=True, exist_ok=True)
    record = {
        **options_of(configfiles, overrides),
        "snakefile": str(snakefile) if snakefile else None,
        "targets": sorted(targets),
        "rerun_triggers": sorted(rerun_triggers) if rerun_triggers else None,
    }
    with atomic_path(dest) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=1, default=str) + "\n")


def command_line(options: dict) -> str:
    """The snakemake options that reproduce recorded ones."""
    words = []
    if options["configfiles"]:
        words += ["--configfile", *(f["path"] for f in options["configfiles"])]
    if options["config"]:
        words += ["--config", *(f"{k}={v}" for k, v in options["config"].items())]
    return shlex.join(words)


def differences(recorded: dict, current: dict) -> list[str]:
    """How the options of a report differ from the run's, one sentence each."""
    found = []
    run_files = [f["path"] for f in recorded["configfiles"]]
    now_files = [f["path"] for f in current["configfiles"]]
    if run_files != now_files:
        found.append(f"config files: the run used {run_files or 'none'}, this report {now_files or 'none'}")
    else:
        for before, now in zip(recorded["configfiles"], current["configfiles"]):
            if before["sha256"] != now["sha256"]:
                found.append(f"{now['path']} was edited after the run (its sha256 differs)")
    keys = sorted(set(recorded["config"]) | set(current["config"]))
    for key in keys:
        before, now = recorded["config"].get(key), current["config"].get(key)
        if str(before) != str(now):
            found.append(f"--config {key}: the run used {before!r}, this report {now!r}")
    return found


def split_options(argv: list[str]) -> tuple[list[str], list[str]]:
    """(config files, --config entries) of a snakemake command line."""
    from aedefense.plan.command_line import config_words
    from aedefense.plan.config import configfile_groups

    return [f for group in configfile_groups(argv) for f in group], config_words(argv)


def report_targets(root: Path = Path(".")) -> list[str]:
    """What the run wrote that the report shows: every figure and table under results/."""
    found = sorted((root / "results" / "figures").glob("*.pdf")) + sorted((root / "results" / "tables").glob("*.csv"))
    return [str(p.relative_to(root)) for p in found]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,  # every other option is snakemake's, passed on as written
        description="Build the HTML report of the run in this directory, with the run's options "
        "(make report ARGS=...); other snakemake options (--configfile, --config, --snakefile) are passed on.",
    )
    parser.add_argument("--out", default="report.html", help="the report to write (default report.html)")
    parser.add_argument("--force", action="store_true", help="build it even where the options differ from the run's")
    parser.add_argument("--directory", "-d", type=Path, default=Path("."), help="the run's directory (default: here)")
    args, rest = parser.parse_known_args(argv)
    from aedefense.plan.command_line import command_line_problems

    for problem in command_line_problems(rest):
        parser.exit(2, f"error: {problem}\n")
    recorded = recorded_run(args.directory)
    if recorded is None:
        parser.exit(
            2,
            f"error: no run was recorded in {args.directory} ({args.directory / RUN_SETTINGS} is missing): run the "
            "workflow first\n",
        )
    from snakemake.cli import parse_config

    files, entries = split_options(rest)
    try:
        current = options_of(files, parse_config(entries))
    except ValueError as error:
        parser.exit(2, f"error: {error}\n")
    found = differences(recorded, current)
    if found and not args.force:
        lines = "\n".join(f"  - {f}" for f in found)
        parser.exit(
            2,
            f"error: the report's options differ from the run's:\n{lines}\n"
            f"Build it with the run's: make report ARGS={shlex.quote(command_line(recorded))}\n"
            "(or add --force to build it anyway)\n",
        )
    targets = report_targets(args.directory)
    if not targets:
        parser.exit(2, "error: the run wrote no figure or table under results/ yet\n")
    out = Path(args.out).resolve()
    command = [sys.executable, "-m", "snakemake", "--directory", str(args.directory), "--report", str(out), *targets]
    print(f"Report of {len(targets)} figures and tables: {out}", flush=True)
    return subprocess.call(command + rest)


if __name__ == "__main__":
    sys.exit(main())
