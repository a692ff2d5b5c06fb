"""What every job script does first: log to the rule's log file, use exactly its threads, and
time its phases.

A job's wall time splits into start-up (the interpreter and the imports, measured from the
process's start, plus device initialisation), load (reading its inputs), compute and save.
The split goes to `<log without .log>.timing.json` beside the job's log, where
`benchmarks/profile_run.py` reads it.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

from aedefense.files.timings import timing_path
from aedefense.jobs.watchdog import stop_with_parent

PHASES = ("startup", "load", "compute", "save")


def seconds_since_process_start() -> float | None:
    """How long this process has run, from /proc (Linux); None where that cannot be read."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start time after boot
        return time.clock_gettime(time.CLOCK_BOOTTIME) - started
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class JobTimer:
    """Seconds per phase of one job; `work` says how much it computed, in units of its own."""

    def __init__(self):
        self.entered = time.perf_counter()
        before_job = seconds_since_process_start()
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self.before_job = before_job or 0.0
        self.seconds["startup"] = self.before_job
        self.startup_measured = before_job is not None
        self.work: dict = {}
        self.machine: dict = {}  # the machine settings the job ran with (fast_forward, pieces)

    @contextmanager
    def phase(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start

    def device(self, setting: str):
        """Select the device (start-up: CUDA's initialisation counts there)."""
        from aedefense.jobs.setup import select_device

        with self.phase("startup"):
            device = select_device(setting)
            if device.type == "cuda":
                import torch

                torch.zeros(1, device=device)  # create the context now, not in the first load
        self.device_name = str(device)
        return device

    def place(self, defence, device, resources) -> str:
        """Move the defence to the device in the form the job's machine settings ask for (the
        rule's resources: fast_forward runs the classifier folded), record those settings in the
        timing file, and return the log's phrase for them."""
        defence.to(device)
        fast_forward = bool(resources.fast_forward)
        if fast_forward:
            defence.fast_forward(device)
        self.machine = {"fast_forward": fast_forward}
        if hasattr(resources, "cpu_forward_batch"):
            self.machine["cpu_forward_batch"] = resources.cpu_forward_batch
        return ", the classifier folded (fast_forward)" if fast_forward else ""

    def record(self, rule: str, wildcards: dict, threads: int) -> dict:
        in_job = time.perf_counter() - self.entered
        accounted = sum(v for k, v in self.seconds.items() if k != "startup")
        finished = time.time()
        return {
            "started_at": round(finished - in_job - self.before_job, 3),
            "finished_at": round(finished, 3),
            "rule": rule,
            "wildcards": wildcards,
            "threads": threads,
            "device": getattr(self, "device_name", "cpu"),
            "machine": self.machine,
            "startup_measured": self.startup_measured,
            **{f"{name}_s": round(value, 4) for name, value in self.seconds.items()},
            "other_s": round(max(0.0, in_job - accounted), 4),
            "work": self.work,
        }


def use_threads(threads: int) -> None:
    """torch's threads for this job, without importing torch: a table or figure job never
    loads it. Where the script has loaded it, set now; else the variables torch reads on import."""
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


@contextmanager
def job(snakemake):
    """Send output to the job's log, set torch's threads, time the phases; on failure the
    error's own message goes to the console too (the traceback stays in the log)."""
    timer = JobTimer()
    use_threads(snakemake.threads)
    console = sys.stderr
    with open(snakemake.log[0], "w", buffering=1) as log, redirect_stdout(log), redirect_stderr(log):
        watch = stop_with_parent(log=log)  # no orphan: the job ends with its snakemake
        try:
            yield timer
        except KeyboardInterrupt:
            print("stopped (SIGINT)", file=console)
            sys.exit(130)
        except Exception as error:
            traceback.print_exc()
            print(f"{type(error).__name__}: {error}\n(log: {snakemake.log[0]})", file=console)
            sys.exit(1)
        finally:
            watch.stop.set()
    record = timer.record(snakemake.rule, dict(snakemake.wildcards.items()), snakemake.threads)
    from aedefense.files.io import atomic_path

    with atomic_path(timing_path(snakemake.log[0])) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")


class Progress:
    """'<what> 3/10, 40 s so far, about 1 min left' lines for a job's log: a long job says
    where it is and when it will end (the rate of what is done so far, extrapolated)."""

    def __init__(self, what: str, log=print):
        self.what, self.log, self.started = what, log, time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        elapsed = time.perf_counter() - self.started
        left = elapsed / done * (total - done) if done else float("nan")
        self.log(f"{self.what} {done}/{total}, {elapsed:.0f} s so far, {about(left)} left")


def about(seconds: float) -> str:
    """A duration for a person: 'about 40 s', 'about 12 min', 'about 2.5 h'."""
    if seconds != seconds:  # NaN: nothing done yet
        return "unknown time"
    if seconds < 90:
        return f"about {seconds:.0f} s"
    if seconds < 5400:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds / 3600:.1f} h"
