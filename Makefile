# Two commands do all set-up: `make demo` and `make test`.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Offline by design: no stage may reach a model hub.
export HF_HUB_OFFLINE := 1
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup demo test lint bench gpu-check lock clean

setup: $(STAMP)

# The tested versions: requirements.lock constrains every package the install pulls in (`make lock` refreshes it).
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c requirements.lock --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/snakemake --profile profiles/local --configfile config/demo.yaml
	@$(BIN)/python -m air_core.cli show-results --configfile config/demo.yaml

test: $(STAMP)
	$(BIN)/python -m pytest

# Performance figures (docs/performance.md); not part of the tests. Run `make demo` first for e.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

# The GPU figures measured beside their predictions, on one CUDA GPU (docs/performance.md, "Measuring on a GPU").
GPU_CHECK_OUT ?= benchmarks/measured/gpu_check.md
gpu-check: $(STAMP)
	$(BIN)/python -m benchmarks.gpu_check --out $(GPU_CHECK_OUT) $(GPU_CHECK_ARGS)

# Style and Snakemake's own checks; CI runs it before the tests (.ci/run). `ruff format .` and `snakefmt .`
# rewrite what they would change.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check .
	$(BIN)/snakemake --lint --configfile config/demo.yaml

# Refresh requirements.lock: the newest releases pyproject.toml allows, resolved in a scratch venv. Then
# `make test` on them (rm -r .venv first) and copy the new versions of the direct dependencies into
# envs/air.yaml (tests/test_environment.py names every pin that differs).
LOCK_VENV := .venv-lock
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/python -m pip install --quiet -e '.[test]'
	{ grep '^#' requirements.lock; $(LOCK_VENV)/bin/python -m pip freeze --all --exclude-editable; } > requirements.lock.new
	mv requirements.lock.new requirements.lock
	rm -rf $(LOCK_VENV)

clean:
	rm -rf results logs .snakemake
