# The quick start: `make up` (add OFFLINE=1 to run against the exchange emulator: its own Dagster home
# .dagster_home-offline, warehouse data/offline.duckdb and code location datafactory-offline) and `make test`.
# Both create the virtual environment in .venv on first use and reinstall when pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: up test bench bench-freqtrade freqtrade system-packages

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

up: $(VENV)/.installed
	$(BIN)/datafactory up $(if $(filter 1 true yes,$(OFFLINE)),--offline)

system-packages:
	bash .ci/system-packages.sh

test: $(VENV)/.installed system-packages freqtrade
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/python bench/backfill.py
	$(BIN)/python bench/archive.py

# freqtrade in its own environment (not a dependency of ours): the futures export's round trip reads our files with
# freqtrade's own loader (datafactory_tests/warehouse/test_freqtrade_futures.py; it skips, saying so, without it), and
# bench-freqtrade downloads the same candles through it and through us. Pinned to the release whose layout the export
# follows (freqtrade_futures.py): bump it on purpose and let the round trip say whether the layout still holds.
FREQTRADE ?= freqtrade==2026.9
# uv (a dev dependency) resolves and installs it in seconds; pip took about five minutes on two cores.
.venv-freqtrade/bin/freqtrade: $(VENV)/.installed
	$(BIN)/uv venv --quiet --python $(PYTHON) .venv-freqtrade
	$(BIN)/uv pip install --quiet --python .venv-freqtrade/bin/python '$(FREQTRADE)'

freqtrade: .venv-freqtrade/bin/freqtrade

bench-freqtrade: $(VENV)/.installed .venv-freqtrade/bin/freqtrade
	$(BIN)/python bench/versus_freqtrade.py
