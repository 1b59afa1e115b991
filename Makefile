# The quick start: `make up` (add OFFLINE=1 to run against the exchange emulator: its own Dagster home
# .dagster_home-offline, warehouse data/offline.duckdb and code location datafactory-offline) and `make test`.
# Both create the virtual environment in .venv on first use and reinstall when pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: up test bench bench-freqtrade system-packages

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

up: $(VENV)/.installed
	$(BIN)/datafactory up $(if $(filter 1 true yes,$(OFFLINE)),--offline)

system-packages:
	bash .ci/system-packages.sh

test: $(VENV)/.installed system-packages
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/python bench/backfill.py
	$(BIN)/python bench/archive.py

# freqtrade in its own environment (not a dependency of ours), then the same download through it and through us
.venv-freqtrade/bin/freqtrade:
	$(PYTHON) -m venv .venv-freqtrade
	.venv-freqtrade/bin/python -m pip install --quiet freqtrade

bench-freqtrade: $(VENV)/.installed .venv-freqtrade/bin/freqtrade
	$(BIN)/python bench/versus_freqtrade.py
