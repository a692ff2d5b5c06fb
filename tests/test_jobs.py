"""Job timing (the phases a job records for `make profile`) and what a job's set-up costs."""

import subprocess
import sys
import time

from aedefense.files.timings import timing_path
from aedefense.jobs.runtime import JobTimer, seconds_since_process_start


def test_the_process_age_is_read_and_grows():
    first = seconds_since_process_start()
    assert first is not None and 0 < first < 24 * 3600  # this test process started earlier
    time.sleep(0.05)
    assert seconds_since_process_start() - first >= 0.04


def test_phases_add_up_and_the_rest_is_other():
    timer = JobTimer()
    with timer.phase("load"):
        time.sleep(0.02)
    with timer.phase("compute"):
        time.sleep(0.05)
    with timer.phase("compute"):  # phases accumulate
        time.sleep(0.05)
    time.sleep(0.03)  # in the job, in no phase
    record = timer.record("attack", {"eps": "0.1"}, threads=2)
    assert record["compute_s"] >= 0.1 and 0.02 <= record["load_s"] < record["compute_s"]
    assert record["other_s"] >= 0.03 and record["startup_measured"]
    assert record["started_at"] < record["finished_at"] - record["compute_s"]
    assert record["device"] == "cpu" and record["work"] == {}


def test_the_timing_file_sits_beside_the_log():
    assert timing_path("logs/mnist/ae/none/attack/cw_eps0.1.log").name == "cw_eps0.1.timing.json"


def test_seeding_a_job_makes_torch_deterministic_without_loading_its_compiler():
    """seed_everything sets torch's deterministic flag (warnings only) as the public call does,
    but leaves torch._inductor unloaded: its import costs an evaluation job 1-2 s."""
    script = (
        "import sys, torch\n"
        "from aedefense.jobs.setup import seed_everything\n"
        "seed_everything(0, torch.device('cpu'))\n"
        "print(torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),"
        " 'torch._inductor' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "False"]
