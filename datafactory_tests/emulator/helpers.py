"""Plain builders the emulator tests share: constants, a ccxt client pointed at the emulator, expected candles."""

from __future__ import annotations

import ccxt

from datafactory_assets.emulator.candles import synthetic_candles
from datafactory_assets.emulator.perp_series import perp_candles
from datafactory_assets.sources.ccxt_source import point_at_emulator

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
T0 = 1_709_287_200_000  # 2024-03-01T10:00Z: far older than the recent-only windows (Kraken, OKX "candles")
SPOT_ONLY = {"fetchMarkets": {"types": ["spot"]}}
BINANCE_SPOT = {**SPOT_ONLY, "fetchCurrencies": False}


def ccxt_client(venue: str, url: str, **options) -> ccxt.Exchange:
    """The real ccxt client for `venue` with these ccxt `options` (none: ccxt's defaults), no rate limiter, pointed
    at the emulator at `url` the way the platform points its sources."""
    exchange = getattr(ccxt, venue)({"enableRateLimit": False, "options": options})
    exchange.urls["api"] = point_at_emulator(exchange.urls["api"], base_url=url, venue=venue)
    return exchange


def expected_rows(symbol: str, start_ms: int, count: int, timeframe_ms: int = MINUTE) -> list[list]:
    """The `count` synthetic candles from `start_ms` as ccxt returns them: [open ms, o, h, l, c, volume] lists."""
    frame = synthetic_candles(symbol, start_ms, start_ms + count * timeframe_ms, timeframe_ms)
    return [list(row) for row in frame.rows()]


def forward(client, symbol, *, start, end, limit, timeframe="1m"):
    """The platform's loop: since = last + one candle, venue-max limit, until the window is done."""
    rows, since = [], start
    step = client.parse_timeframe(timeframe) * 1000
    while since < end:
        page = client.fetch_ohlcv(symbol, timeframe, since=since, limit=limit)
        rows.extend(row for row in page if row[0] < end)
        if len(page) < limit:
            break
        since = page[-1][0] + step
    return rows


def expected_perp_rows(symbol: str, kind: str, start_ms: int, count: int, timeframe_ms: int = MINUTE) -> list[list]:
    """The `count` perp_series candles of `kind` from `start_ms` as ccxt returns them from OKX or Bybit: mark, index
    and premium rows there carry no volume, so ccxt's sixth value is None."""
    frame = perp_candles(symbol, kind, start_ms, start_ms + count * timeframe_ms, timeframe_ms)
    return [[*row[:5], row[5] if kind == "trade" else None] for row in frame.rows()]
