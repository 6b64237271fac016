# The README's two commands: `make demo` (the whole job on the local lab) and `make test`.
# Both set up what they need from a fresh Debian 12 machine: the .venv (reinstalled only when
# pyproject.toml changes) and the Debian packages the lab needs (installed only when missing).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test notebook venv debs lab-up lab-down golden sync lint clean

demo: venv debs
	BIN=$(BIN) scripts/demo

# Four pytest-xdist workers, one per stream (tests/conftest.py): the two sandbox labs, the other
# lab tests, the tests that need no root. Most of the suite waits on services, so two cores suffice.
test: venv debs
	$(BIN)/pytest -n 4 --dist loadgroup $(PYTEST_ARGS)

# Step through the runbooks in JupyterLab (127.0.0.1; the URL with its token is printed).
notebook: venv
	$(BIN)/harborbook notebook

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

debs:
	@scripts/install-debs lib/harborlab/data/debian-packages.txt lib/harborbook/data/debian-packages.txt tests/debian-packages.txt

lab-up: venv debs
	$(BIN)/harborbook lab up

lab-down: venv
	$(BIN)/harborbook lab down

# Re-execute the runbooks against the lab and store their outputs as the golden references.
golden: venv debs
	$(BIN)/harborbook lab down --purge
	$(BIN)/harborbook lab up --kubelet-housekeeping 1 --kubelet-transition 3
	$(BIN)/python scripts/golden.py
	$(BIN)/jupytext --sync runbooks/*.ipynb

# Re-pair every runbook notebook with its percent-format script (the newer side wins).
sync: venv
	$(BIN)/jupytext --sync runbooks/*.ipynb

# The import contracts (layers, harborbook never imports harborlab) and the types (mypy with the
# pydantic plugin on lib/harborbook); tests/test_project.py runs both too, so CI does.
lint: venv
	$(BIN)/lint-imports
	$(BIN)/mypy --config-file pyproject.toml

clean:
	rm -rf $(VENV) runs .pytest_cache
