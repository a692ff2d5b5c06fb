# The two set-up-and-run commands of README.md. Both create the environment on first use.
#   make paper   the main job: every figure of the paper (CORES=8 and ARGS="..." to change)
#   make test    the test suite (what CI runs)
#   make bench   the benchmarks: attack and training throughput against peers and limits,
#                workflow overhead (BENCH_ARGS="--device cuda" etc. go to the throughput scripts)
#   make profile where a finished run's time went, per rule, and the whole paper projected
#                from its rates (PROFILE_ARGS="--directory DIR --parallel N" etc.)

VENV ?= .venv
CORES ?= 8
ARGS ?=
STAMP := $(VENV)/.installed

BENCH_ARGS ?=
PROFILE_ARGS ?=
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: paper test bench profile

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -e ".[test]"
	touch $@

paper: $(STAMP)
	$(VENV)/bin/snakemake --cores $(CORES) $(ARGS)

test: $(STAMP)
	$(VENV)/bin/pytest

$(BENCH_STAMP): $(STAMP)
	$(VENV)/bin/pip install --quiet -e ".[test,bench]"
	touch $@

bench: $(BENCH_STAMP)
	$(VENV)/bin/python benchmarks/attack_throughput.py $(BENCH_ARGS)
	$(VENV)/bin/python benchmarks/training_throughput.py $(BENCH_ARGS)
	$(VENV)/bin/python benchmarks/workflow_overhead.py

profile: $(STAMP)
	$(VENV)/bin/python benchmarks/profile_run.py $(PROFILE_ARGS)
