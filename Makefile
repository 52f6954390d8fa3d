# rnnmem: `make sweep` runs the default grid, `make test` the test suite (both install first).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Exact versions of every dependency, generated from pyproject.toml by pip-tools (`make lock`).
LOCK := requirements.lock
PIP_SPEC := pip==26.3
PIP_TOOLS_SPEC := pip-tools==7.6.2
LOCK_VENV := .venv-lock
STAMP := $(VENV)/.installed

.PHONY: install lock test test-fast lint train sweep figures bench dashboard clean

# torch==2.13.0 in the lock: this machine's CPU build from its local wheels, PyPI's CUDA build of
# the same version on a GPU box (with the NVIDIA libraries that build pins).
install: $(STAMP)

$(STAMP): $(LOCK) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(PIP_SPEC)"
	$(BIN)/python -m pip install --quiet -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Re-resolve the lock from pyproject.toml and constraints.txt (newest versions allowed there).
# pip-tools lives in its own venv, so that it is not among the project's packages. The build
# label of torch (+cpu here) is dropped, so that the lock installs on CPU and GPU machines alike.
lock:
	test -x $(LOCK_VENV)/bin/pip-compile || ($(PYTHON) -m venv $(LOCK_VENV) && \
		$(LOCK_VENV)/bin/python -m pip install --quiet "$(PIP_SPEC)" "$(PIP_TOOLS_SPEC)")
	$(LOCK_VENV)/bin/pip-compile --quiet --upgrade --extra test --strip-extras \
		--no-emit-index-url --no-emit-find-links --constraint constraints.txt \
		--output-file $(LOCK) pyproject.toml
	sed -i -E 's/^(torch==[^+ ]+)\+[A-Za-z0-9.]+/\1/' $(LOCK)

test: install
	$(BIN)/python -m pytest -m "slow or not slow" -q

test-fast: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests experiments benchmarks

train: install
	$(BIN)/python -m rnnmem.train $(ARGS)

# Sweeps: EXPERIMENT picks conf/experiment/<name>.yaml; SWEEP_DIR an existing one resumes it.
# SWEEP_DIR and SWEEP may hold spaces, commas and other characters: they are quoted for the
# shell and, as Hydra's quoted values, for the override's grammar (a single quote in a path is
# the one character they cannot hold).
EXPERIMENT ?= default
SWEEP_DIR ?= sweeps/$(EXPERIMENT)-$(shell date +%Y%m%d-%H%M%S)
sweep: install
	$(BIN)/python -m rnnmem.train "+experiment=$(EXPERIMENT)" "hydra.sweep.dir='$(SWEEP_DIR)'" $(ARGS)

# Figures of a recorded sweep (default: the most recent one under sweeps/).
SWEEP ?= $(shell ls -td sweeps/*/ 2>/dev/null | head -n 1)
figures: install
	$(BIN)/python experiments/make_figures.py "$(SWEEP)"

bench: install
	$(BIN)/python benchmarks/bench.py $(ARGS)

# The W&B runs of the latest sweep (or SWEEP=dir) in wandb's terminal dashboard.
dashboard: install
	$(BIN)/wandb leet "$(SWEEP)/wandb"

clean:
	rm -rf outputs sweeps .pytest_cache
