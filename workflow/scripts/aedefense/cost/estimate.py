"""What a run will build and about how long it takes on this machine, printed before it starts.

    python -m aedefense.cost.estimate [--cores N] [snakemake options and targets]

Snakemake plans the run in the current directory (a dry run: the jobs left to do), each job's
kind and work are computed from its settings (aedefense.cost.projection.WorkKind: the rule, the
attack method or training penalty, the image shape, the batch), and this machine's rate of
each kind in the plan is measured in well under a second on the config's own models at that
shape (cost.rates.RateModel, the model `make profile` and the cluster's time limits use too),
with the start-up of a job (a fresh interpreter importing torch). Jobs are assumed to run
`cores // threads` at a time. On a busy machine the rates come out slow: where the measurement
got less than 80% of its threads' time (its CPU time over their wall time), the estimate gives
a range, from the machine idle (the rates divided by that share) to as busy as now.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from snakemake.cli import get_argument_parser, parse_config, parse_cores

from aedefense.cost.projection import ESTIMATE_RECORD, PlanError, counted, hours, load_config, planned_jobs, shape_of
from aedefense.cost.rates import RateModel, job_threads, planned_kinds, project, spread_over_cores
from aedefense.data.download import unreachable_downloads
from aedefense.plan.datasets import DATASETS, dataset_info
from aedefense.report.build import options_of

MEASURE_SECONDS = 0.4  # per kind of work, after one warm-up call
# images per measured step on a CPU where a kind's batch is larger: an attack's (DeepFool's
# step is a backward per class), a forward's; a rate per image changes little above these
CPU_ATTACK_BATCH, CPU_FORWARD_BATCH = 50, 200
MEASURED_STEPS = 2  # an attack's steps, cut: the rate per image-iteration is the same
# the rules whose work is measured here (prepare's is a constant; a contract check is seconds)
MEASURED_RULES = ("attack", "evaluate", "latent", "health", "train_autoencoder", "train_classifier")


def rate(step, work: float, seconds: float = MEASURE_SECONDS, warm_up: bool = True) -> float:
    """Work units per second of `step` (which does `work` units), after one warm-up call."""
    if warm_up:
        step()
    count, start = 0, time.perf_counter()
    while count == 0 or time.perf_counter() - start < seconds:
        step()
        count += 1
    return count * work / (time.perf_counter() - start)


def representative_attack(config: dict, method: str) -> dict:
    """The settings of the config's attack of `method` (the figure attack where it is one)."""
    names = [config["figure_attack"], *config["attacks"]]
    return next(
        dict(config["attacks"][name], name=name) for name in names if config["attacks"][name]["method"] == method
    )


def measure(
    config: dict, device_setting: str, kinds, cores: int | None = None
) -> tuple[RateModel, str, float, RateModel]:
    """This machine's rate of each kind of work in `kinds` (cost.projection.WorkKind), each
    measured briefly on the config's models at the kind's image shape, the device name, the
    median share of their threads' time the measurements got, and the rates the machine would
    give idle (the same where the measurements got at least BUSY_SHARE).
    An attack runs a few steps of the config's own settings for its method; a suite is its
    attacks, each at its own rate; training steps use the kind's penalty. Each kind runs on
    the threads its job will get: its rule's threads, at most `cores` (Snakemake gives a job
    no more than the run's cores; this machine's where None)."""
    from copy import deepcopy

    import torch

    from aedefense.core.attacks import run_attack
    from aedefense.core.models import Classifier, DefendedModel, build_autoencoder, fast_forward_form
    from aedefense.jobs.setup import select_device
    from aedefense.jobs.training import autoencoder_loss, contractive_penalty
    from aedefense.plan.attack_specs import spec_of, work_of

    device = select_device(device_setting)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, aedefense.core.attacks, aedefense.core.models"], check=True)
    startup = time.perf_counter() - start + 0.3  # + Snakemake's script preamble
    attack_cap, forward_cap = (1000, 1000) if device.type == "cuda" else (CPU_ATTACK_BATCH, CPU_FORWARD_BATCH)
    c, a = config["classifier"], config["autoencoder"]
    built = {}

    def models(shape: str):
        if shape not in built:
            dims = tuple(int(n) for n in shape.split("x"))
            classes = next(DATASETS[d].classes for d in config["datasets"] if shape_of(d) == shape)
            classifier = Classifier(dims, classes, c["blocks"], c["channels"], c["dense"], c["dropout"]).to(device)
            autoencoder = build_autoencoder(dims, "ae", a).to(device)
            # copies: the training measurements put the originals in training mode
            as_trained = DefendedModel(deepcopy(classifier), deepcopy(autoencoder), "mean").eval()
            stacked = as_trained  # the form attack, evaluation and health jobs run
            if config["fast_forward"]:
                stacked = DefendedModel(*fast_forward_form(classifier, deepcopy(autoencoder), device)).eval()
            built[shape] = dims, classes, classifier, autoencoder, stacked, as_trained
        return built[shape]

    def threads(rule, only=None):
        torch.set_num_threads(only or job_threads(config, rule, cores or os.cpu_count() or 1))

    def images(shape, batch):
        dims, classes, *_ = models(shape)
        x = torch.rand(batch, *dims, device=device)
        return x, torch.randint(0, classes, (batch,), device=device)

    pass_rates = {}

    def pass_rate(shape: str, batch: int) -> float:
        """Images per second of one forward and backward of the stacked model at `batch`: on a
        CPU a batch whose activations outgrow the cache runs slower per image (about half the
        rate at 1,000 as at 100 on MNIST), which the attacks' short measurement at a small
        batch leaves out. A large batch is timed once, after one warm-up pass at its size: the
        first pass at a new batch size builds the backend's kernels for it (timed alone, it put
        the scale anywhere from 0.1 to 0.9)."""
        if (shape, batch) not in pass_rates:
            x, y = images(shape, batch)
            stacked = models(shape)[4]

            def step():
                inputs = x.clone().requires_grad_(True)
                torch.nn.functional.cross_entropy(stacked(inputs), y).backward()

            small = batch <= attack_cap
            pass_rates[shape, batch] = rate(step, batch, MEASURE_SECONDS if small else 0.0)
        return pass_rates[shape, batch]

    def attack_rate(settings: dict, shape: str, at_once: int) -> float:
        """at_once: the images through the model together in the job (a batch times its EOT draws)."""
        settings = {**settings, "eps": 0.1, "eot_draws": 1}
        spec = spec_of(settings)
        settings[spec.steps_setting] = MEASURED_STEPS
        settings.update({name: 1 for name in spec.runs_settings})
        cap = attack_cap
        if device.type == "cpu" and config["cpu_forward_batch"]:  # the job's forwards go in pieces
            at_once = min(at_once, config["cpu_forward_batch"])
            cap = max(cap, min(at_once, CPU_FORWARD_BATCH))  # the attack itself at the job's piece
        batch = min(cap, settings["batch_size"])
        x, y = images(shape, batch)
        stacked = models(shape)[4]
        measured = rate(lambda: run_attack(stacked, x, y, settings), work_of(settings, batch))
        if at_once > batch:
            measured *= pass_rate(shape, at_once) / pass_rate(shape, batch)
        return measured

    def training_rate(net, loss_of, shape, batch, seconds=MEASURE_SECONDS):
        optimiser = torch.optim.Adam(net.parameters(), 1e-3)
        x, y = images(shape, batch)

        def step():
            loss = loss_of(net, x, y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()

        return rate(step, batch, seconds)

    def suite_rate(kind):
        # its attacks in turn, each at its own rate: seconds = sum of work / rate
        names = kind.what.split(" ", 1)[1].split("+")
        parts = [dict(config["attacks"][name], name=name) for name in names]
        work = [work_of(part, 1) for part in parts]
        at_once = [part["batch_size"] * part.get("eot_draws", 1) for part in parts]
        seconds = sum(w / attack_rate(part, kind.shape, n) for w, part, n in zip(work, parts, at_once))
        return sum(work) / seconds

    def forward_rate(kind):
        batch = min(forward_cap, kind.batch or forward_cap)
        if device.type == "cpu" and config["cpu_forward_batch"]:  # the job's forwards go in pieces
            batch = min(batch, config["cpu_forward_batch"])
        x, _ = images(kind.shape, batch)
        stacked = models(kind.shape)[5 if kind.rule == "latent" else 4]  # latent jobs do not fold
        with torch.no_grad():
            return rate(lambda: stacked(x), len(x))

    def autoencoder_rate(kind):
        settings = {**a, "contractive": kind.what}

        def loss_of(net, x, _):
            value, _ = autoencoder_loss(net, x, x, kl_scale=1.0)
            return value if kind.what == "plain" else value + contractive_penalty(net, x, settings)

        # the exact penalty is one backward per code unit: a few images say enough
        batch = 10 if kind.what == "exact" else kind.batch
        return training_rate(models(kind.shape)[3].train(), loss_of, kind.shape, batch)

    def classifier_rate(kind):
        loss_of = lambda net, x, y: torch.nn.functional.cross_entropy(net(x), y)  # noqa: E731
        return training_rate(models(kind.shape)[2].train(), loss_of, kind.shape, kind.batch)

    def rate_of(kind, only_threads=None):
        threads(kind.rule, only_threads)
        if kind.rule == "attack":
            if kind.what.startswith("suite "):
                return suite_rate(kind)
            return attack_rate(representative_attack(config, kind.what), kind.shape, kind.batch)
        if kind.rule in ("evaluate", "latent", "health"):
            return forward_rate(kind)
        return {"train_autoencoder": autoencoder_rate, "train_classifier": classifier_rate}[kind.rule](kind)

    def rate_with_share(kind, only_threads=None):
        """(rate, the share of its threads' time the measurement got)."""
        cpu, wall = time.process_time(), time.perf_counter()
        value = rate_of(kind, only_threads)
        used = (time.process_time() - cpu) / (time.perf_counter() - wall)
        return value, min(1.0, used / min(torch.get_num_threads(), os.cpu_count() or 1))

    measured, idle, shares = {}, {}, []
    for kind in sorted(set(kinds)):
        if kind.rule not in MEASURED_RULES:
            continue
        measured[kind], share = rate_with_share(kind)
        shares.append(share)
        busy = device.type == "cpu" and share < BUSY_SHARE
        idle[kind] = measured[kind] / share if busy else measured[kind]
        if busy and torch.get_num_threads() > 1:
            # threads that wait for each other at every operation lose far more than their
            # share on a busy machine (2 threads beside two busy jobs on 2 cores: a tenth of
            # one thread's rate): one thread's rate over its own share bounds the idle rate
            one, share_one = rate_with_share(kind, only_threads=1)
            idle[kind] = max(idle[kind], one / share_one)
    share = sorted(shares)[len(shares) // 2] if shares and device.type == "cpu" else 1.0
    overheads = {kind.rule: startup for kind in kinds} | {"prepare": startup}
    # decoding the archives: not timed here
    per_job = {"prepare": 20.0}
    idle_overheads = {rule: seconds * share for rule, seconds in overheads.items()}
    return (
        RateModel(measured, overheads, per_job_s=per_job),
        str(device),
        share,
        RateModel(idle, idle_overheads, per_job_s=per_job),
    )


def training_images_found(config: dict, directory: str | Path = ".") -> dict[str, int]:
    """Training images of each dataset of the config whose format counts them from a header
    (IDX), where the run will read them: its downloaded file under resources/, else a directory
    mirror's. A dataset found in neither keeps its official size in the projection."""
    from aedefense.data.download import parse_mirror
    from aedefense.data.sources import reader_of
    from aedefense.plan.datasets import file_format

    mirror = parse_mirror(config["mirror"]) if config.get("mirror") else None
    found = {}
    for dataset in config["datasets"]:
        layout = file_format(dataset_info(dataset).layout)
        if layout.training_count_file is None:
            continue
        relpath = f"{dataset}/{layout.training_count_file}"
        places = [Path(directory) / "resources" / relpath]
        places += [Path(mirror.locate(relpath))] if mirror and mirror.directory else []
        for labels in places:
            try:
                found[dataset] = reader_of(dataset).count_training_images(labels)
                break
            except ValueError:
                continue  # absent or damaged: the run fetches it again; look further
    return found


def record_estimate(path: Path, **estimate) -> None:
    """Keep the estimate beside the run it is for (logs/estimate.json), stamped with the time it
    was made: make status and make profile set the run's measured time against it."""
    from aedefense.files.io import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps({"made_at": time.time(), **estimate}, indent=1) + "\n")


QUICK_ENOUGH_S = 2 * 3600  # below this estimate, no quicker route is suggested
PART_SHOWN = 0.05  # the kinds of work shown under the estimate: each this share of it or more
# below this share of its threads' time, the measurement was slowed by other work: a range
BUSY_SHARE = 0.8
# a load average this far above the machine's cores is named even where the measurement got
# its threads' time (Linux shares the CPU between sessions before processes)
LOAD_MARGIN = 1.0


def config_overlays(arguments: list[str]) -> tuple[list[str], dict, int, str]:
    """The --configfile files, --config values, --cores and --directory of a snakemake command
    line, read by Snakemake's own parser (nested --config values stay text, as Snakemake reads
    them)."""
    known = get_argument_parser().parse_args(arguments)
    cores = parse_cores(known.cores) if known.cores else 1
    configfiles = [str(path) for path in known.configfile or []]
    return configfiles, parse_config(known.config or []), cores, str(known.directory or ".")


def main(arguments: list[str]) -> None:
    if {"-h", "--help"} & set(arguments):
        print(__doc__.strip())
        return
    from aedefense.plan.command_line import command_line_problems

    # the machine's load before the estimate's own work adds to it
    load, machine_cores = os.getloadavg()[0], len(os.sched_getaffinity(0))
    problems = command_line_problems(arguments)
    if problems:  # what Snakemake would report with a traceback, before reading the Snakefile
        sys.exit("\n".join(f"error: {p}" for p in problems))
    try:
        # Snakemake plans first: it says best what is wrong with a command line or a config.
        # A directory Snakemake never ran in has nothing built: plan there in a scratch
        # directory, which leaves no .snakemake/ behind (where the command was typed, say).
        given = get_argument_parser().parse_args(arguments).directory or "."
        ran_there = (Path(given) / ".snakemake").is_dir()
        jobs = planned_jobs(arguments, directory="." if ran_there else None)
        configfiles, overrides, cores, directory = config_overlays(arguments)
        config = load_config(configfiles, overrides)
    except PlanError as error:
        sys.exit(str(error))
    except (ValueError, OSError) as error:
        sys.exit(f"could not read the config of this command line: {error}")
    counts = Counter(rule for rule, _ in jobs if rule not in ("all",))
    if not jobs or set(counts) <= {"download"}:
        print("Nothing to build: every output is up to date.")
        return
    downloads = sorted({(w["dataset"], w["filename"]) for rule, w in jobs if rule == "download"})
    unreachable = unreachable_downloads(downloads, config.get("mirror"))
    # the estimate first (a missing download's training set at its published size): how long
    # the run would take is worth knowing before arranging the files
    print_estimate(arguments, jobs, counts, config, (configfiles, overrides), cores, directory, (load, machine_cores))
    if unreachable:
        sys.exit(
            "\nThis run downloads files it cannot get from here:\n  "
            + "\n  ".join(unreachable)
            + "\nGive a mirror that holds them (--config mirror=DIR, laid out as DIR/<dataset>/<file>; "
            "docs/data.md), run where there is network, or leave those datasets out (--config 'datasets=[...]')."
        )


def print_estimate(arguments, jobs, counts, config, overlays, cores, directory, machine) -> None:
    """Print what the run builds and its estimated wall time; keep the estimate in ESTIMATE_RECORD.
    overlays: (configfiles, overrides) of the command line; machine: (load average, cores)."""
    configfiles, overrides = overlays
    load, machine_cores = machine
    print(f"This run builds {sum(counts.values()):,} jobs for the datasets {', '.join(config['datasets'])}:")
    print("  " + ", ".join(f"{rule} {count:,}" for rule, count in counts.most_common()))
    train_images = training_images_found(config, directory)
    planned = planned_kinds(config, jobs, train_images)
    model, device, share, idle_model = measure(config, config["device"], {kind for _, kind, _ in planned}, cores)
    projected, _ = project(model, planned)
    if not projected:
        print("Nothing in it computes: tables and figures only, seconds each.")
        return
    wall = spread_over_cores(projected, config, cores)
    print(
        f"Estimated wall time on this machine ({device}, {counted(cores, 'core')}; rates measured just now): "
        f"about {hours(wall)}, most of it in"
    )
    for row in sorted(projected, key=lambda row: -row["wall_s"]):
        if row["wall_s"] < PART_SHOWN * wall:
            break
        print(f"  {row['kind']}: {counted(row['jobs'], 'job')}, {hours(row['wall_s'])}")
    idle_wall = spread_over_cores(project(idle_model, planned)[0], config, cores) if share < BUSY_SHARE else wall
    record_estimate(
        Path(directory) / ESTIMATE_RECORD,
        targets=get_argument_parser().parse_args(arguments).targets or [],
        options=options_of(configfiles, overrides),
        cores=cores,
        device=device,
        wall_s=wall,
        idle_wall_s=idle_wall,
        jobs=sum(counts.values()),
        share=share,
        load=load,
    )
    if share < BUSY_SHARE:
        print(
            f"This machine is busy: the measurement got {share:.0%} of its threads' time, so the rates are "
            f"slower than its own when idle. Between about {hours(idle_wall)} (if it is idle while the "
            f"run goes) and {hours(wall)} (as busy as now)."
        )
    elif load > machine_cores + LOAD_MARGIN:
        print(
            f"The load average is {load:.1f} on this machine's {counted(machine_cores, 'core')}, though the "
            f"measurement got {share:.0%} of its threads' time: work started from another session gets a "
            "share of its own. If that work goes on, the run takes longer than this."
        )
    if wall < QUICK_ENOUGH_S:  # a run this short needs no quicker route
        return
    print(
        "Quicker: one figure (snakemake --cores N results/figures/fig3.pdf), fewer datasets "
        "(--config 'datasets=[mnist]'), or the reduced grid (--configfile presets/quick.yaml); "
        "docs/usage.md."
    )


if __name__ == "__main__":
    main(sys.argv[1:])
