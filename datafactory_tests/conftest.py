"""Shared fixtures: the exchange emulator, a throwaway warehouse, and symbol settings for tests; and a guard that
keeps every test in this process on the loopback interface."""

from __future__ import annotations

import socket

import pytest

from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse import WarehouseResource


def _loopback(host) -> bool:
    name = host.decode() if isinstance(host, bytes) else host
    return not name or name == "localhost" or name.startswith("127.") or name in ("::1", "0.0.0.0")


@pytest.fixture(scope="session", autouse=True)
def only_loopback():
    """A client that would resolve a real venue's host (one not pointed at the emulator) fails the test loudly
    instead of reaching the internet: tests talk to 127.0.0.1 only."""
    resolve = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        if not _loopback(host):
            raise OSError(f"a test tried to resolve {host!r}: tests reach the emulator on 127.0.0.1 only")
        return resolve(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", guarded)
        yield


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
