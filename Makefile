# Two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
TORCH  ?= torch==2.13.0
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
PYTEST_ARGS ?=

.PHONY: demo test lint bench clean sample-data

demo: $(VENV)/.installed
	$(VENV)/bin/metricprobe demo

test: $(VENV)/.installed-test lint
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

# Style, types and the floors (metrics < diagnostics < reference_models < metricprobe).
lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check metrics diagnostics reference_models metricprobe tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# torch goes in first and pinned: here the pin is a CPU build; an unpinned torch
# (pulled in as a dependency) would download a multi-GB CUDA build.
$(VENV)/.torch:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check "$(TORCH)"
	touch $@

$(VENV)/.installed: $(VENV)/.torch pyproject.toml
	$(PIP) install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.torch pyproject.toml
	$(PIP) install --quiet --disable-pip-version-check -e ".[test]"
	touch $@ $(VENV)/.installed

# Re-runs every benchmark side by side with its anchor and regenerates docs/benchmarks*.
# BENCH_ARGS=--quick for a short smoke run (the pages then say so in their command line).
BENCH_ARGS ?=
bench: $(VENV)/.installed-test
	$(PIP) install --quiet --disable-pip-version-check -e ".[test,bench]"
	for b in benchmarks/[a-z]*.py; do $(PY) -m benchmarks.$$(basename $$b .py) $(BENCH_ARGS) || exit 1; done
	$(PY) -m benchmarks._collect

sample-data: $(VENV)/.installed
	$(PY) -m reference_models.data.generate

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
