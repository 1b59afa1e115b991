"""Fixtures for the emulator's own tests: the shared emulator, raw HTTP, and a real ccxt client pointed at it the
way the platform points its sources (`point_at_emulator` from `sources/`)."""

from __future__ import annotations

import json

import pytest
import requests

from datafactory_tests.emulator.helpers import BINANCE_SPOT, ccxt_client


@pytest.fixture
def emu(emulator):
    """The shared emulator (see the root conftest), under the short name these tests use."""
    return emulator


@pytest.fixture(scope="session")
def loaded_clients(emulator_session):
    """`loaded_clients(venue, **options)`: that ccxt client with its markets loaded once per session and
    `last_json_response` recording on (as the platform runs it), so each test module does not pay for markets."""
    clients = {}

    def loaded(venue: str, **options):
        key = (venue, json.dumps(options, sort_keys=True))
        if key not in clients:
            exchange = ccxt_client(venue, emulator_session.url, **options)
            exchange.enableLastJsonResponse = True
            exchange.load_markets()
            clients[key] = exchange
        return clients[key]

    return loaded


@pytest.fixture(scope="module")
def ccxt_venue():
    """The venue and ccxt options `client` is built with; a venue's test module overrides this to test its own."""
    return "binance", BINANCE_SPOT


@pytest.fixture(scope="module")
def _loaded_client(ccxt_venue, loaded_clients):
    # Module-scoped so that markets load before `emu` empties the request log, which tests then read.
    venue, options = ccxt_venue
    return loaded_clients(venue, **options)


@pytest.fixture
def client(emu, _loaded_client):
    """A ccxt client with its markets loaded and `last_json_response` recording on (as the platform runs it)."""
    _loaded_client.last_json_response = None
    return _loaded_client


@pytest.fixture
def http(emu):
    """A plain HTTP session for raw requests, with the emulator's base URL as `http.base`."""
    with requests.Session() as session:
        session.base = emu.url
        yield session
