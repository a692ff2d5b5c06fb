"""What a run will build and about how long it takes on this machine, printed before it starts.

    python -m aedefense.cost.estimate [--cores N] [snakemake options and targets]

Snakemake plans the run in the current directory (a dry run: the jobs left to do), each job's
work is computed from its settings (aedefense.cost.projection), and this machine's rates are
measured in about ten seconds on the paper's models at MNIST size: an attack step, a training
step (plain, and with the exact contractive penalty), an evaluation forward, and the start-up
of a job (a fresh interpreter importing torch). The estimate is rough (BTSC's 32 x 32 models
are timed at MNIST size; jobs are assumed to run `cores // threads` at a time), meant to tell
an hour from a day from a month.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from snakemake.cli import get_argument_parser, parse_config, parse_cores

from aedefense.cost.projection import EXACT_CONTRACTIVE, PlanError, hours, load_config, planned_jobs, project
from aedefense.data.download import unreachable_downloads
from aedefense.plan.datasets import dataset_info
from aedefense.plan.grid import RULE_THREADS

# which config `threads` entry each category's jobs use: the rules', and the exact
# contractive training of train_autoencoder
THREADS = {**RULE_THREADS, EXACT_CONTRACTIVE: RULE_THREADS["train_autoencoder"]}


def rate(step, images: int, seconds: float = 1.0) -> float:
    """Images per second of `step` (which processes `images`), after one warm-up call."""
    step()
    count, start = 0, time.perf_counter()
    while count == 0 or time.perf_counter() - start < seconds:
        step()
        count += 1
    return count * images / (time.perf_counter() - start)


def measure(config: dict, device_setting: str) -> tuple[dict, str]:
    """This machine's rates per category (aedefense.cost.projection units) and the device name."""
    import torch

    from aedefense.core import losses
    from aedefense.core.attacks import run_attack
    from aedefense.core.models import Classifier, DefendedModel, build_autoencoder
    from aedefense.jobs.setup import select_device
    from aedefense.jobs.training import contracted_code
    from aedefense.plan.attack_specs import spec_of, work_of

    device = select_device(device_setting)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, aedefense.core.attacks, aedefense.core.models"], check=True)
    startup = time.perf_counter() - start + 0.3  # + Snakemake's script preamble
    c, a = config["classifier"], config["autoencoder"]
    shape = (1, 28, 28)
    classifier = Classifier(shape, 10, c["blocks"], c["channels"], c["dense"], c["dropout"]).to(device)
    autoencoder = build_autoencoder(shape, "ae", a).to(device)
    model = DefendedModel(classifier, autoencoder, "mean").to(device).eval()
    batch = 1000 if device.type == "cuda" else 100
    x, y = torch.rand(batch, *shape, device=device), torch.randint(0, 10, (batch,), device=device)
    rates = {}

    def threads(category):
        torch.set_num_threads(max(1, config["threads"][THREADS[category]]))

    threads("attack")
    # the figure attack as configured, cut to a few steps: the rate per image-iteration is the same
    settings = {**config["attacks"][config["figure_attack"]], "eps": 0.1}
    settings[spec_of(settings).steps_setting] = 4
    attack = rate(lambda: run_attack(model, x, y, settings), work_of(settings, batch))
    threads("evaluate")
    with torch.no_grad():
        evaluate = rate(lambda: model(x), batch)

    def training_step(net, loss_of, size):
        optimiser = torch.optim.Adam(net.parameters(), 1e-3)
        inputs = torch.rand(size, *shape, device=device)

        def step():
            loss = loss_of(net, inputs)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()

        return step

    threads("train_autoencoder")
    size = a["batch_size"]
    plain = rate(training_step(autoencoder.train(), lambda n, i: (n(i) - i).pow(2).sum(), size), size)
    small = 10  # the exact penalty is one backward per code unit: a few images say enough
    exact = rate(
        training_step(autoencoder, lambda n, i: losses.contractive_exact(contracted_code(n), i), small),
        small,
        0.5,
    )
    threads("train_classifier")
    labels = torch.randint(0, 10, (c["batch_size"],), device=device)
    classify = rate(
        training_step(
            classifier.train(), lambda n, i: torch.nn.functional.cross_entropy(n(i), labels), c["batch_size"]
        ),
        c["batch_size"],
    )
    per_job = {"overhead_per_job_s": startup}
    for category, value in (
        ("attack", attack),
        ("attack_adaptive", attack),
        ("evaluate", evaluate),
        ("evaluate_adaptive", evaluate),
        ("latent", evaluate),
        ("health", evaluate),
        ("train_autoencoder", plain),
        (EXACT_CONTRACTIVE, exact),
        ("train_classifier", classify),
    ):
        rates[category] = {**per_job, "rate": value}
    rates["prepare"] = {**per_job, "compute_per_job_s": 20.0}  # decoding the archives; not timed here
    return rates, str(device)


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


QUICK_ENOUGH_S = 2 * 3600  # below this estimate, no quicker route is suggested


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
    if unreachable:
        sys.exit(
            "This run downloads files it cannot get from here:\n  "
            + "\n  ".join(unreachable)
            + "\nGive a mirror that holds them (--config mirror=DIR, laid out as DIR/<dataset>/<file>; "
            "docs/data.md), run where there is network, or leave those datasets out (--config 'datasets=[...]')."
        )
    print(f"This run builds {sum(counts.values()):,} jobs for the datasets {', '.join(config['datasets'])}:")
    print("  " + ", ".join(f"{rule} {count:,}" for rule, count in counts.most_common()))
    rates, device = measure(config, config["device"])
    projected, _ = project(rates, config, jobs, training_images_found(config, directory))
    wall = 0.0
    slowest = max(projected, key=lambda p: p["compute_s"] + p["overhead_s"])
    for row in projected:
        at_once = max(1, cores // max(1, config["threads"][THREADS.get(row["rule"], "evaluate")]))
        wall += (row["overhead_s"] + row["compute_s"]) / at_once
    print(
        f"Estimated wall time on this machine ({device}, {cores} cores; rates measured just now): "
        f"about {hours(wall)}; the largest part: {slowest['rule']} ({slowest['jobs']} jobs)."
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
