"""Shared fixtures: the exchange emulator, a throwaway warehouse, and symbol settings for tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from datafactory_assets.emulator.server import Emulator
from datafactory_assets.settings import SymbolSettings
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse import WarehouseResource

HOUR_MS = 3_600_000


def symbol_settings(symbol: str = "BTC/USDT", *, start: datetime = datetime(2024, 3, 1, tzinfo=UTC),
                    timeframe: str = "1m") -> SymbolSettings:
    return SymbolSettings(symbol=symbol, timeframe=timeframe, start=start, sources=("binance",))


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture(scope="session")
def emulator_session():
    with Emulator() as emu:
        yield emu


@pytest.fixture
def emulator(emulator_session):
    """The session's emulator with no faults and an empty request log."""
    emulator_session.clear_faults()
    emulator_session.clear_request_log()
    yield emulator_session
    emulator_session.clear_faults()


@pytest.fixture
def warehouse(tmp_path) -> WarehouseResource:
    return WarehouseResource(path=str(tmp_path / "warehouse.duckdb"), lock_timeout_s=10)


@pytest.fixture
def sources(emulator) -> SourcesResource:
    return SourcesResource(emulator_url=emulator.url)
