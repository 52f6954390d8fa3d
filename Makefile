# rnnmem: `make sweep` runs the default grid, `make test` the test suite (both install first).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# CPU build on this machine; on a GPU box the same pin takes PyPI's CUDA build.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install test test-fast lint train sweep figures bench dashboard clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -m "slow or not slow" -q

test-fast: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests experiments benchmarks

train: install
	$(BIN)/python -m rnnmem.train $(ARGS)

# Sweeps: EXPERIMENT picks conf/experiment/<name>.yaml; SWEEP_DIR an existing one resumes it.
EXPERIMENT ?= default
SWEEP_DIR ?= sweeps/$(EXPERIMENT)-$(shell date +%Y%m%d-%H%M%S)
sweep: install
	$(BIN)/python -m rnnmem.train +experiment=$(EXPERIMENT) hydra.sweep.dir=$(SWEEP_DIR) $(ARGS)

# Figures of a recorded sweep (default: the most recent one under sweeps/).
SWEEP ?= $(shell ls -td sweeps/*/ 2>/dev/null | head -n 1)
figures: install
	$(BIN)/python experiments/make_figures.py $(SWEEP)

bench: install
	$(BIN)/python benchmarks/bench.py $(ARGS)

# The W&B runs of the latest sweep (or SWEEP=dir) in wandb's terminal dashboard.
dashboard: install
	$(BIN)/wandb leet $(SWEEP)/wandb

clean:
	rm -rf outputs sweeps .pytest_cache
