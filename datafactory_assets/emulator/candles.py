"""Deterministic synthetic candles: every candle is a pure function of (symbol, open time, timeframe).

Random access is the point: a test can compute the exact value the emulator served for any candle without replaying
the requests, and the emulator serves any page without state. The price path is a function of time alone, so
`open(t) = close(t - tf)` holds by construction and candles of different timeframes share their open prices.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
import polars as pl

LISTED_SINCE_MS = 1_499_990_400_000  # 2017-07-14T00:00Z: no pair's candle opens earlier
# Pairs listed later, at a time of the emulator's choosing (not the venue's real date), at every venue that lists
# them: a configured start before it meets windows without a candle anywhere, and a listing inside an hour.
LISTED_LATER_MS: dict[str, int] = {
    "KAITO/USDT": 1_741_609_800_000,  # 2025-03-10T12:30Z
    "POL/USDT": 1_726_221_600_000,  # 2024-09-13T10:00Z: Binance opened POL spot trading then (MATIC's successor)
}
# Pairs the venue delisted: their last candle closes here, and Binance lists them as `BREAK` from then on
# (`listing.status_of`). MATIC/USDT's is Binance's real one: the announcement "Binance Will Support the Polygon
# (MATIC) Network Upgrade and Rebranding to POL" delisted every MATIC spot pair on 2024-09-10 at 03:00 UTC and
# opened POL pairs on 2024-09-13 at 10:00 UTC (three days with neither, which the venue really had). Binance keeps
# a delisted spot pair in exchangeInfo and serves its klines up to the delisting (ccxt issue #7304: "look into the
# `active` flag"), and its bulk archive keeps the pair's files up to the delisting too (binance-public-data #333:
# XMRUSD_PERP's files end at its delisting, "as it's expected"), so every dialect and the archive stop there.
DELISTED_MS: dict[str, int] = {"MATIC/USDT": 1_725_937_200_000}  # 2024-09-10T03:00Z
BASE_PRICES: dict[str, float] = {
    "BTC/USDT": 60_000.0,
    "ETH/USDT": 3_000.0,
    "SOL/USDT": 150.0,
    "BNB/USDT": 550.0,
    "XRP/USDT": 0.6,
    "ADA/USDT": 0.5,
    "DOGE/USDT": 0.15,
    "ETH/BTC": 0.05,
}
DEFAULT_SYMBOLS: tuple[str, ...] = tuple(BASE_PRICES)
SCHEMA = {
    "open_ms": pl.Int64,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "volume": pl.Float64,
}
VOLUME_DECIMALS = 5

_DAY_MS = 86_400_000
# (period, amplitude of log-price): a slow trend, a weekly and a daily swing, a few-hours ripple.
_WAVES = ((97 * _DAY_MS, 0.30), (13 * _DAY_MS, 0.08), (_DAY_MS, 0.02), (3 * 3_600_000, 0.004))
_NOISE = 0.0008  # relative tick noise of the price path
_WICK = 0.0005  # relative wick length of a 1-minute candle; grows with sqrt(timeframe)
_NOTIONAL_PER_MINUTE = 100_000.0  # quote currency traded per minute, sets the volume scale
_STREAM_PHASE, _STREAM_PRICE, _STREAM_HIGH, _STREAM_LOW, _STREAM_VOLUME = range(5)


def symbol_seed(symbol: str) -> int:
    """A stable 64-bit seed per symbol (Python's `hash` is salted per process, so it would not do)."""
    return int.from_bytes(hashlib.blake2b(symbol.encode(), digest_size=8).digest(), "little")


def listed_since_ms(symbol: str) -> int:
    """When the pair's first candle opens: its listing."""
    return LISTED_LATER_MS.get(symbol, LISTED_SINCE_MS)


def delisted_at_ms(symbol: str) -> int | None:
    """When the pair's last candle closes, for a pair the venue delisted; None for one still trading."""
    return DELISTED_MS.get(symbol)


def base_price(symbol: str) -> float:
    """The level the symbol's price oscillates around; unknown symbols get one between 0.01 and 10,000."""
    if symbol in BASE_PRICES:
        return BASE_PRICES[symbol]
    fraction = (symbol_seed(symbol) >> 11) * 2.0**-53
    return float(10.0 ** (-2.0 + 6.0 * fraction))


def price_decimals(symbol: str) -> int:
    """Cents for symbols worth at least 1, eight decimals for the cheap ones (as on Binance)."""
    return 2 if base_price(symbol) >= 1 else 8


def synthetic_candles(symbol: str, start_ms: int, end_ms: int, timeframe_ms: int = 60_000) -> pl.DataFrame:
    """Every candle of `symbol` opening in [start_ms, end_ms), aligned to `timeframe_ms`, from its listing up to now
    or to its delisting.

    The still-open candle that contains "now" is included, as the real exchange serves it.
    """
    if timeframe_ms <= 0:
        raise ValueError(f"timeframe_ms must be positive, got {timeframe_ms}")
    first = -(-max(start_ms, listed_since_ms(symbol)) // timeframe_ms) * timeframe_ms
    stop = min(end_ms, (time.time_ns() // 1_000_000 // timeframe_ms + 1) * timeframe_ms,
               delisted_at_ms(symbol) or end_ms)
    opens = np.arange(first, max(first, stop), timeframe_ms, dtype=np.int64)
    return _candles_at(symbol, opens, timeframe_ms=timeframe_ms)


def _candles_at(symbol: str, opens: np.ndarray, *, timeframe_ms: int) -> pl.DataFrame:
    seed, base, decimals = symbol_seed(symbol), base_price(symbol), price_decimals(symbol)
    edges = np.round(price_path(symbol, np.concatenate([opens, opens[-1:] + timeframe_ms])), decimals)
    return candles_from_edges(seed, opens, edges, timeframe_ms=timeframe_ms, decimals=decimals,
                              volume_scale=_NOTIONAL_PER_MINUTE / base)


def candles_from_edges(seed: int, opens: np.ndarray, edges: np.ndarray, *, timeframe_ms: int, decimals: int,
                       volume_scale: float) -> pl.DataFrame:
    """Candles whose open and close are the rounded prices `edges` at their open times and at the last close, with
    hashed wicks and volume (`volume_scale` base units per minute; 0 for the volume-less price candles of an index
    or a mark price). Other series (perpetuals, `perp_series.py`) make their candles here too."""
    open_, close = edges[:-1], edges[1:]
    wick = _WICK * np.sqrt(timeframe_ms / 60_000)
    top, bottom = np.maximum(open_, close), np.minimum(open_, close)
    high_wick, low_wick, activity = (
        _uniform(seed, opens, stream=stream, timeframe_ms=timeframe_ms)
        for stream in (_STREAM_HIGH, _STREAM_LOW, _STREAM_VOLUME)
    )
    high = np.maximum(top, np.round(top * (1 + wick * high_wick), decimals))
    low = np.minimum(bottom, np.round(bottom * (1 - wick * low_wick), decimals))
    volume = np.round(volume_scale * (timeframe_ms / 60_000) * (0.2 + 1.6 * activity), VOLUME_DECIMALS)
    return pl.DataFrame(
        {"open_ms": opens, "open": open_, "high": high, "low": low, "close": close, "volume": volume}, schema=SCHEMA
    )


def price_path(symbol: str, times_ms: np.ndarray) -> np.ndarray:
    """The symbol's unrounded price at each instant."""
    return _price_path(symbol_seed(symbol), times_ms, base=base_price(symbol))


def _price_path(seed: int, times_ms: np.ndarray, *, base: float) -> np.ndarray:
    """The price at an instant: a few symbol-phased sines in log space times hashed tick noise."""
    phases = _uniform(seed, np.arange(len(_WAVES), dtype=np.int64), stream=_STREAM_PHASE) * 2 * np.pi
    t = times_ms.astype(np.float64)
    log_level = sum(amp * np.sin(2 * np.pi * t / period + phase) for (period, amp), phase in zip(_WAVES, phases))
    noise = 2 * _uniform(seed, times_ms, stream=_STREAM_PRICE) - 1
    return base * np.exp(log_level) * (1 + _NOISE * noise)


def _uniform(seed: int, keys: np.ndarray, *, stream: int, timeframe_ms: int = 0) -> np.ndarray:
    """Uniform [0, 1) per key, independent across (seed, stream, timeframe); the price path uses no timeframe."""
    salt = splitmix64(np.array([seed ^ (stream << 56) ^ timeframe_ms], dtype=np.uint64))
    return unit_hash(keys.astype(np.uint64) + salt)


def unit_hash(keys: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random number in [0, 1) per uint64 key."""
    return (splitmix64(keys) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer, vectorized (uint64 arrays wrap around silently)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))
