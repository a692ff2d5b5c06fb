"""`aedefense`: snakemake, with the command line checked first.

    aedefense [snakemake options and targets]     e.g. aedefense results/figures/fig3.pdf

Every word goes to Snakemake unchanged, so `snakemake` works the same where you prefer it.
Before Snakemake starts, the mistakes it reports with a traceback (or by quietly running more
than was asked) are refused with a sentence and the fix:

  - a target after --config or --configfile (they take every word after them);
  - a config file that does not exist;
  - targets given only after --forcerun, --until, --omit-from or --prioritize, which also take
    every word after them: Snakemake would build the default target, the whole grid;
  - --configfile given twice (Snakemake keeps the last).

A dry run (-n) in a directory another run holds is told that Snakemake's "Error: Directory
cannot be locked" is only a warning there (Snakemake 9 prints it even with --nolock).
Without --cores, --jobs or --profile it uses this machine's cores (and says so). Snakemake's own
options: snakemake --help.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from aedefense.plan.command_line import command_line_problems

# options that take every word after them, where a target can end up by mistake
TARGET_EATING_OPTIONS = {
    "forcerun": "--forcerun",
    "until": "--until",
    "omit_from": "--omit-from",
    "prioritize": "--prioritize",
}


def machine_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def looks_like_a_file(word: str) -> bool:
    """A word that names a file rather than a rule (rule names have neither '/' nor '.')."""
    return "/" in word or "." in word


def eaten_target_problems(parsed) -> list[str]:
    """Targets swallowed by an option that takes every word, when no target is left."""
    if parsed.targets:
        return []
    problems = []
    for dest, option in TARGET_EATING_OPTIONS.items():
        files = [word for word in (getattr(parsed, dest, None) or []) if looks_like_a_file(word)]
        if files:
            example = " ".join(files)
            problems.append(
                f"{option} takes every word after it, so no target is left and Snakemake would build the "
                f"default target, the whole grid: give the targets first, e.g. aedefense {example} {option} {example}"
            )
    return problems


def held_by_another_run(directory) -> bool:
    """Whether Snakemake's lock files are in the working directory: a dry run there would print
    "Error: Directory cannot be locked" (and go on, and exit 0), though it changes nothing."""
    locks = Path(directory or ".") / ".snakemake" / "locks"
    return locks.is_dir() and any(locks.iterdir())


def refuse_malformed(message: str):
    """argparse's error, without the 150 lines of Snakemake's usage."""
    print(f"error: {message} (snakemake --help lists its options)", file=sys.stderr)
    sys.exit(2)


def snakemake_command() -> list[str]:
    beside = Path(sys.executable).parent / "snakemake"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("snakemake")
    return [found] if found else [sys.executable, "-m", "snakemake"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if {"-h", "--help"} & set(argv):
            print(__doc__.strip())
            return 0
        problems = command_line_problems(argv, program="aedefense")
        if not problems:
            from snakemake.cli import get_argument_parser

            parser = get_argument_parser()
            parser.error = refuse_malformed
            parsed = parser.parse_args(argv)
            problems = eaten_target_problems(parsed)
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        if problems:
            return 2
        if parsed.dryrun and held_by_another_run(parsed.directory):
            print(
                "aedefense: another run holds this directory. Snakemake will say 'Error: Directory "
                "cannot be locked': for a dry run that is a warning only, it plans all the same and "
                "changes nothing (if no run goes, a stopped one left its lock: snakemake --unlock)",
                file=sys.stderr,
            )
        chosen = parsed.cores or parsed.jobs or parsed.profile or os.environ.get("SNAKEMAKE_PROFILE")
        if not chosen and not parsed.dryrun:
            cores = machine_cores()
            argv += ["--cores", str(cores)]
            print(f"aedefense: --cores {cores}, this machine's cores (give --cores N to choose)", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    command = snakemake_command()
    os.execv(command[0], command + argv)
    return 1  # not reached: execv replaces this process


if __name__ == "__main__":
    sys.exit(main())
