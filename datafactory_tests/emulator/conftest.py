"""Fixtures for the emulator's own tests: one emulator per test session (per xdist worker) and real ccxt clients.

`point_at_emulator` is the test-side copy of the URL rewrite; production code has its own in `sources/`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import ccxt
import pytest
import requests

from datafactory_assets.emulator.server import Emulator


def point_at_emulator(exchange: ccxt.Exchange, url: str, venue: str = "binance") -> ccxt.Exchange:
    """Keep every API path of `exchange` but send it to `{url}/{venue}` instead of the real host."""

    def rewrite(value):
        if isinstance(value, dict):
            return {key: rewrite(item) for key, item in value.items()}
        if isinstance(value, str) and "://" in value:
            return f"{url}/{venue}{urlsplit(value).path}"
        return value

    exchange.urls["api"] = rewrite(exchange.urls["api"])
    return exchange


def binance_client(url: str, **config) -> ccxt.binance:
    """The real ccxt Binance client, spot only, no rate limiter, pointed at the emulator at `url`."""
    exchange = ccxt.binance({
        "enableRateLimit": False,
        "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False},
        **config,
    })
    return point_at_emulator(exchange, url)


@pytest.fixture(scope="session")
def shared_emulator():
    with Emulator() as emu:
        yield emu


@pytest.fixture
def emu(shared_emulator):
    """The session's emulator, with no faults and an empty request log on entry and no faults left on exit."""
    shared_emulator.clear_faults()
    shared_emulator.clear_request_log()
    yield shared_emulator
    shared_emulator.clear_faults()


@pytest.fixture(scope="session")
def _loaded_client(shared_emulator):
    exchange = binance_client(shared_emulator.url)
    exchange.enableLastJsonResponse = True
    exchange.load_markets()
    return exchange


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
