# The two set-up-and-run commands of README.md. Both create the environment on first use.
#   make paper   the main job: every figure of the paper (CORES=N and ARGS="..." to change; CORES is
#                the machine's cores unless given)
#   make test    the test suite (what CI runs, there with the SLURM test opted in)
#   make test-slurm  the test suite with the real-SLURM test opted in: as root, installs SLURM,
#                munge and MariaDB with apt-get if missing, starts a private cluster, stops it
#   make bench   the benchmarks: attack and training throughput against peers and limits,
#                workflow overhead (BENCH_ARGS="--device cuda --threads N" go to both throughput
#                scripts, ATTACK_BENCH_ARGS="--batch N --iterations N" to the attack one,
#                TRAIN_BENCH_ARGS="--images N --exact-images N" to the training one,
#                LEVER_BENCH_ARGS="--iterations N --compile" to the speed levers against today's path)
#   make profile where a finished run's time went, per rule, and the whole paper projected
#                from its rates (PROFILE_ARGS="--directory DIR --parallel N" etc.)

VENV ?= .venv
# the machine's cores, unless told (make paper CORES=N)
CORES ?= $(shell python3 -c "import os; print(len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count())")
ARGS ?=
PAUSE ?= 10
STAMP := $(VENV)/.installed

BENCH_ARGS ?=
ATTACK_BENCH_ARGS ?=
TRAIN_BENCH_ARGS ?=
PROFILE_ARGS ?=
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: paper first test test-fast test-slurm bench profile docs report status

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	@echo "Installing the workflow and its dependencies into $(VENV) (PyTorch alone is several GB; pip says each step)"
	$(VENV)/bin/pip install --progress-bar on -e ".[test]"
	touch $@

# what the run will build and an estimate of its time on this machine, then the run
paper: $(STAMP)
	$(VENV)/bin/python -m aedefense.cost.estimate --cores $(CORES) $(ARGS)
	@echo "Starting in $(PAUSE) s; Ctrl-C stops it (nothing has run yet)." && sleep $(PAUSE)
	$(VENV)/bin/snakemake --cores $(CORES) $(ARGS)

# a first result in minutes: the MNIST classifier and one denoising AE, briefly trained, under
# CW and PGD on 100 test images; the accuracy is printed at the end (presets/first.yaml).
# ARGS: --config options only, e.g. ARGS="--config mirror=/data/mirror"
first: $(STAMP)
	$(VENV)/bin/aedefense --cores $(CORES) results/figures/fig1.pdf --configfile presets/first.yaml $(ARGS)

# the HTML report of the run in this directory, with the run's options (ARGS as for paper)
report: $(STAMP)
	$(VENV)/bin/python -m aedefense.report.build $(ARGS)

# where the run in this directory stands: jobs done, jobs left, time left (works while it runs)
status: $(STAMP)
	$(VENV)/bin/python -m aedefense.cost.status --cores $(CORES)

test: $(STAMP)
	$(VENV)/bin/pytest

# the unit tests only: no end-to-end Snakemake run (those are marked `workflow`)
test-fast: $(STAMP)
	$(VENV)/bin/pytest -m "not workflow"

test-slurm: $(STAMP)
	AEDEFENSE_SLURM_TEST=1 $(VENV)/bin/pytest

# the README's claims table and docs/reproduction.md's verdict tables, from the committed
# claims tables (docs/reproduction/*/claims.csv); a test fails while they differ
docs: $(STAMP)
	$(VENV)/bin/python docs/generate.py

$(BENCH_STAMP): $(STAMP)
	$(VENV)/bin/pip install --quiet -e ".[test,bench]"
	touch $@

bench: $(BENCH_STAMP)
	$(VENV)/bin/python benchmarks/attack_throughput.py $(BENCH_ARGS) $(ATTACK_BENCH_ARGS)
	$(VENV)/bin/python benchmarks/training_throughput.py $(BENCH_ARGS) $(TRAIN_BENCH_ARGS)
	$(VENV)/bin/python benchmarks/levers.py $(BENCH_ARGS) $(LEVER_BENCH_ARGS)
	$(VENV)/bin/python benchmarks/thread_mix.py
	$(VENV)/bin/python benchmarks/workflow_overhead.py

profile: $(STAMP)
	$(VENV)/bin/python benchmarks/profile_run.py $(PROFILE_ARGS)
