"""How a client is pointed at the exchange emulator: every venue lives under `{emulator}/{venue}`, with the venue's
real paths and queries kept, so the emulator sees exactly the requests the real venue would."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests


def emulator_url(url: str, *, base_url: str, venue: str) -> str:
    """`https://api.binance.com/api/v3/klines?x=1` -> `{base_url}/binance/api/v3/klines?x=1`."""
    parts = urlsplit(url)
    query = f"?{parts.query}" if parts.query else ""
    return f"{base_url.rstrip('/')}/{venue}{parts.path}{query}"


class EmulatorSession(requests.Session):
    """A requests session that sends every request to the emulator: for clients that take a session (yfinance,
    plain-HTTP sources) instead of a URL table."""

    def __init__(self, *, base_url: str, venue: str):
        super().__init__()
        self.base_url = base_url
        self.venue = venue

    def request(self, method, url, *args, **kwargs):
        return super().request(method, emulator_url(url, base_url=self.base_url, venue=self.venue), *args, **kwargs)
