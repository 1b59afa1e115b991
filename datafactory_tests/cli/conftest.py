"""The CLI tests' configuration: one symbol from 2024-03-01, read from a warehouse of the test's own."""

import pytest


@pytest.fixture
def cli_env(tmp_path, warehouse, monkeypatch):
    config = tmp_path / "datafactory.toml"
    config.write_text('[defaults]\nstart = "2024-03-01"\n[symbols]\n"BTC/USDT" = {}\n')
    monkeypatch.setenv("DATAFACTORY_CONFIG", str(config))
    monkeypatch.setenv("DATAFACTORY_WAREHOUSE", warehouse.path)
    return warehouse
