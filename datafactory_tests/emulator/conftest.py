"""Fixtures for the emulator's own tests: the shared emulator and a real ccxt client pointed at it the way the
platform points its sources (`point_at_emulator` from `sources/`)."""

from __future__ import annotations

import ccxt
import pytest
import requests

from datafactory_assets.sources.ccxt_source import point_at_emulator


def binance_client(url: str, **config) -> ccxt.binance:
    """The real ccxt Binance client, spot only, no rate limiter, pointed at the emulator at `url`."""
    exchange = ccxt.binance({
        "enableRateLimit": False,
        "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False},
        **config,
    })
    exchange.urls["api"] = point_at_emulator(exchange.urls["api"], base_url=url, venue="binance")
    return exchange


@pytest.fixture
def emu(emulator):
    """The shared emulator (see the root conftest), under the short name these tests use."""
    return emulator


@pytest.fixture(scope="session")
def _loaded_client(emulator_session):
    exchange = binance_client(emulator_session.url)
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
