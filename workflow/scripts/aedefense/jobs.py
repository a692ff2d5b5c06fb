"""What every job script does first: log to the rule's log file, use exactly its threads."""

from __future__ import annotations

import sys
import traceback
from contextlib import contextmanager, redirect_stderr, redirect_stdout

import torch


@contextmanager
def job(snakemake):
    """Send output to the job's log, set torch's threads; on failure the error's own message
    goes to the console too (the traceback stays in the log)."""
    torch.set_num_threads(snakemake.threads)
    console = sys.stderr
    with open(snakemake.log[0], "w", buffering=1) as log, redirect_stdout(log), redirect_stderr(log):
        try:
            yield
        except Exception as error:
            traceback.print_exc()
            print(f"{type(error).__name__}: {error}\n(log: {snakemake.log[0]})", file=console)
            sys.exit(1)
