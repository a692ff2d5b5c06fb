"""No orphan jobs: a job ends with the Snakemake that started it, and a Snakemake that is told
to stop (SIGTERM, SIGINT) stops its running jobs rather than waiting for them.

Snakemake answers SIGTERM by waiting for its running jobs to finish, which for a training or
a stalled download can be hours; and a job whose Snakemake was killed (SIGKILL, a lost login
session) runs on alone. Two halves close both gaps:

- `stop_with_parent`, started by every job: a thread that ends the job (SIGTERM to itself)
  once the process that started it is gone (the job is handed to another parent), or, where
  a shell stands between them, once that shell's parent is gone.
- `stop_jobs_on_signals`, installed by the Snakefile when a run starts: on SIGTERM or SIGINT
  the Snakemake process sends SIGTERM to each process it started, then does what it would
  have done (its own handler), so it ends as soon as its jobs have.

Standard library only: the Snakefile imports this module. Processes are found through /proc
(Linux); elsewhere the first half alone applies.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

SHELLS = {"sh", "bash", "dash", "zsh"}


def _parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _name_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_with_parent(interval_s: float = 1.0, log=None) -> threading.Thread:
    """End this process (SIGTERM to itself) once the process that started it has gone."""
    parent = os.getppid()
    watched = [parent]
    if _name_of(parent) in SHELLS:  # a shell between Snakemake and the job: watch Snakemake
        grandparent = _parent_of(parent)
        if grandparent and grandparent > 1:
            watched.append(grandparent)
    stop = threading.Event()

    def watch():
        while not stop.wait(interval_s):
            if os.getppid() != parent or not all(map(_alive, watched)):
                print(
                    f"stopping: the snakemake that started this job (pid {watched[-1]}) is gone",
                    file=log or sys.stderr,
                    flush=True,
                )
                os.kill(os.getpid(), signal.SIGTERM)
                return

    thread = threading.Thread(target=watch, name="stop-with-parent", daemon=True)
    thread.stop = stop  # for tests: thread.stop.set() ends the watch
    thread.start()
    return thread


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux: from /proc; elsewhere none)."""
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if entry.isdigit() and _parent_of(int(entry)) == pid:
            found.append(int(entry))
    return found


def stop_children(signum: int = signal.SIGTERM) -> list[int]:
    """Send `signum` to each process this one started; return their pids."""
    stopped = []
    for child in children(os.getpid()):
        try:
            os.kill(child, signum)
            stopped.append(child)
        except ProcessLookupError:
            pass
    return stopped


def stop_jobs_on_signals(log=None) -> None:
    """On SIGTERM or SIGINT, stop this process's jobs first, then run the handler that was
    there (Snakemake's: wait for the jobs, which now end at once, and exit)."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)

        def handler(number, frame, previous=previous):
            stopped = stop_children()
            if stopped:
                print(
                    f"{signal.Signals(number).name}: stopping the {len(stopped)} running job(s) "
                    f"(pids {', '.join(map(str, stopped))}); their outputs are removed as incomplete",
                    file=log or sys.stderr,
                    flush=True,
                )
            if callable(previous):
                previous(number, frame)
            elif previous == signal.SIG_DFL:
                signal.signal(number, signal.SIG_DFL)
                os.kill(os.getpid(), number)

        signal.signal(signum, handler)
