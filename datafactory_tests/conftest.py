"""Shared fixtures: the exchange emulator, a throwaway warehouse, and symbol settings for tests."""

from __future__ import annotations

import pytest

from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse import WarehouseResource


@pytest.fixture(scope="session")
def emulator_session():
    from datafactory_assets.emulator.server import Emulator

    with Emulator() as emu:
        yield emu


@pytest.fixture
def emulator(emulator_session):
    """The session's emulator with no faults, no price offsets and an empty request log; a test sets its own with
    `emulator.add_fault(...)` or `emulator.set_price_offset("okx", 150)`."""
    emulator_session.clear_faults()
    emulator_session.clear_price_offsets()
    emulator_session.clear_request_log()
    yield emulator_session
    emulator_session.clear_faults()
    emulator_session.clear_price_offsets()


@pytest.fixture
def warehouse(tmp_path) -> WarehouseResource:
    return WarehouseResource(path=str(tmp_path / "warehouse.duckdb"), lock_timeout_s=10)


@pytest.fixture
def sources(emulator) -> SourcesResource:
    return SourcesResource(emulator_url=emulator.url)
