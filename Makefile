# The two set-up-and-run commands of README.md. Both create the environment on first use.
#   make paper   the main job: every figure of the paper (CORES=8 and ARGS="..." to change)
#   make test    the test suite (what CI runs)

VENV ?= .venv
CORES ?= 8
ARGS ?=
STAMP := $(VENV)/.installed

.PHONY: paper test

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -e ".[test]"
	touch $@

paper: $(STAMP)
	$(VENV)/bin/snakemake --cores $(CORES) $(ARGS)

test: $(STAMP)
	$(VENV)/bin/pytest
