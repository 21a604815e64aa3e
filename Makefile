# Two commands do all set-up on a fresh machine:
#   make demo   -> creates .venv, installs, runs a real sweep (sweeps/nbody_beta.py) on local Ray + MLflow/SQLite
#   make test   -> creates .venv, installs, runs the test suite
#
# Torch defaults to the pinned CPU build (2.13.0). GPU users pick their build, e.g.
#   make TORCH_SPEC="torch==2.13.0" TORCH_PIP_ARGS="--index-url <your CUDA wheel index>" demo
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-slow lint bench bench-cluster clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)" $(TORCH_PIP_ARGS)
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 $(PY) sweeps/nbody_beta.py

test: $(STAMP)
	$(PY) -m ruff check remul tests bench sweeps
	RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 $(PY) -m pytest -q -p no:cacheprovider tests

test-slow: $(STAMP)
	RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 $(PY) -m pytest -q -m slow tests

lint: $(STAMP)
	$(PY) -m ruff check remul tests bench sweeps

bench: $(STAMP)
	$(PY) bench/bench_steps.py
	$(PY) bench/bench_models.py

bench-cluster: $(STAMP)
	$(PY) bench/bench_cluster.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
