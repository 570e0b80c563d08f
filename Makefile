# Two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
TORCH  ?= torch==2.13.0
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
PYTEST_ARGS ?=

.PHONY: demo test bench clean sample-data

demo: $(VENV)/.installed
	$(VENV)/bin/metricprobe demo

test: $(VENV)/.installed-test
	$(PY) -m pytest $(PYTEST_ARGS)

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

bench: $(VENV)/.installed-test
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

sample-data: $(VENV)/.installed
	$(PY) -m reference_models.data.generate

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
