"""Deterministic synthetic data of perpetual swaps: pure functions of (instrument, time), random-access like
`candles.py`, so a test computes exactly what any perpetual dialect served without replaying its requests.

An instrument is a ccxt unified perpetual symbol, `BTC/USDT:USDT`; its underlying is the spot pair `BTC/USDT`,
whose price path (`candles.price_path`) everything here follows:
- the index price is the spot path with a little noise of its own (a composite of spot venues);
- the mark price is the index times (1 + a smooth basis of a few basis points);
- the trade price is the spot path times (1 + the same basis plus tick noise), so perpetual closes stay within a
  few basis points of spot closes;
- the premium index is (mark - index) / index of the rounded mark and index prices, as Binance defines its premium
  index klines (USDⓈ-M docs, "Premium index Kline Data", developers.binance.com/docs/derivatives/
  usds-margined-futures/market-data/rest-api/Premium-Index-Kline-Data);
- funding follows Binance's formula F = P + clamp(I - P, -0.05 %, +0.05 %), P the premium averaged over the funding
  interval, I the interest rate of 0.01 % per 8 hours scaled to the interval, capped to the instrument's cap
  (Binance USDⓈ-M FAQ "Introduction to Binance Futures Funding Rates"); rates have 8 decimals and come with the mark
  price at the event, as `/fapi/v1/fundingRate` sends them;
- open interest every 5 minutes: a positive amount in base currency (3 decimals, as Binance's `sumOpenInterest`)
  and its value in quote currency at the mark price, plus the four long/short ratios of Binance's metrics files.

Funding intervals and caps are a per-instrument timeline (`FUNDING_TERMS`): most instruments fund every 8 hours
from their listing, capped at +-`DEFAULT_CAP`; `INTERVAL_CHANGE` names one whose interval changes from 8 h to 4 h at
a fixed date, as Binance moved many symbols to 4 h (freqtrade #12583), its cap widened to +-2 % with it (Binance's
fundingInfo lists such pairs, e.g. LPTUSDT `"adjustedFundingRateCap":"0.02000000"` with `"fundingIntervalHours":4`).
Every venue states the terms in force now, and the emulator's three venues state these same caps (the real ones
differ per venue: OKX and Bybit list BTC's at +-0.375 %). Events fall on multiples of the interval
since the epoch (00:00, 08:00, 16:00 UTC).

A real quirk reproduced: Binance's `fundingTime` is the settlement's own timestamp, mostly on the hour but at times
a few milliseconds past it (a saved live answer in a public project's tests holds ETHUSDT `"fundingTime":
1768953600001` with `"markPrice": "2938.29662016"`; ccxt's recorded binanceusdm.json could not be read here, so the
size of the lag is our choice). `funding_events` gives both the scheduled time (`open_ms`) and the venue's
`funding_ms`, 0 to `MAX_FUNDING_LAG_MS` ms later by a hash, so a client must not expect exact hours.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import polars as pl

from datafactory_assets.emulator.candles import (
    VOLUME_DECIMALS,
    base_price,
    candles_from_edges,
    listed_since_ms,
    price_decimals,
    price_path,
    symbol_seed,
    unit_hash,
)

HOUR_MS, DAY_MS = 3_600_000, 86_400_000
OPEN_INTEREST_MS = 300_000  # Binance's finest open-interest period, 5m
PERP_LISTED_SINCE_MS = 1_568_073_600_000  # 2019-09-10T00:00Z, the emulator's choice near Binance's first USDⓈ-M perp
INTEREST_PER_8H = 0.0001
PREMIUM_CLAMP = 0.0005
DEFAULT_CAP = 0.003  # 0.75 x the 0.4 % maintenance margin of Binance's first BTCUSDT bracket
ADJUSTED_CAP = 0.02
MARK_DECIMALS = PREMIUM_DECIMALS = RATE_DECIMALS = 8  # Binance sends mark, index, premium and rates with 8 decimals
MAX_FUNDING_LAG_MS = 5
OPEN_INTEREST_DECIMALS = 3
RATIO_DECIMALS = 4
_BASIS_PERIOD_MS, _BASIS_MEAN, _BASIS_SWING = 3 * DAY_MS, 0.0002, 0.0008
_TRADE_NOISE, _INDEX_NOISE, _PREMIUM_WICK = 0.0002, 0.00005, 0.00005
_OPEN_INTEREST_NOTIONAL = 2.0e9  # quote currency held in open positions of a pair worth its base price
_FUNDING_SAMPLES = 8  # premium samples averaged per funding interval
_STREAMS = {"trade": 11, "index": 12, "mark": 13, "premium": 14, "lag": 15, "oi": 16, "ratios": 17}


@dataclass(frozen=True)
class FundingTerms:
    """From `since_ms` on, the instrument funds every `interval_hours` with rates capped to +-`cap`."""

    since_ms: int
    interval_hours: int
    cap: float = DEFAULT_CAP


INTERVAL_CHANGE = ("ETH/USDT:USDT", 1_736_899_200_000)  # 8 h until 2025-01-15T00:00Z, 4 h from then on
FUNDING_TERMS: dict[str, tuple[FundingTerms, ...]] = {
    INTERVAL_CHANGE[0]: (FundingTerms(0, 8), FundingTerms(INTERVAL_CHANGE[1], 4, cap=ADJUSTED_CAP)),
}


def is_perpetual(symbol: str) -> bool:
    """`BASE/QUOTE:SETTLE` is a ccxt unified swap symbol; `BASE/QUOTE` a spot pair."""
    return ":" in symbol


def underlying(symbol: str) -> str:
    """The spot pair a perpetual follows: `BTC/USDT:USDT` -> `BTC/USDT`."""
    return symbol.partition(":")[0]


def perpetual_of(spot: str) -> str:
    """The linear perpetual settled in the spot pair's quote: `BTC/USDT` -> `BTC/USDT:USDT`."""
    return f"{spot}:{spot.split('/')[1]}"


def perp_listed_since_ms(symbol: str) -> int:
    """The first minute of the perpetual: not before its underlying's listing nor before perpetuals existed."""
    return max(listed_since_ms(underlying(symbol)), PERP_LISTED_SINCE_MS)


def funding_terms(symbol: str) -> tuple[FundingTerms, ...]:
    """The instrument's funding timeline, oldest first."""
    return FUNDING_TERMS.get(symbol, (FundingTerms(0, 8),))


def terms_at(symbol: str, time_ms: int) -> FundingTerms:
    """The funding terms in force at `time_ms`."""
    return [terms for terms in funding_terms(symbol) if terms.since_ms <= time_ms][-1]


def perp_candles(symbol: str, kind: str, start_ms: int, end_ms: int, timeframe_ms: int = 60_000) -> pl.DataFrame:
    """`kind` ("trade", "mark", "index" or "premium") candles opening in [start_ms, end_ms), aligned to
    `timeframe_ms`, from the listing up to the still-open one; volume is 0 but for trade candles, as Binance sends
    them. The frame has `candles.SCHEMA`."""
    first = -(-max(start_ms, perp_listed_since_ms(symbol)) // timeframe_ms) * timeframe_ms
    stop = min(end_ms, (time.time_ns() // 1_000_000 // timeframe_ms + 1) * timeframe_ms)
    opens = np.arange(first, max(first, stop), timeframe_ms, dtype=np.int64)
    edges = np.concatenate([opens, opens[-1:] + timeframe_ms])
    seed = symbol_seed(f"{symbol}#{kind}")
    if kind == "premium":
        return _premium_candles(symbol, seed, opens, edges, timeframe_ms=timeframe_ms)
    decimals = price_decimals(underlying(symbol)) if kind == "trade" else MARK_DECIMALS
    prices = {"trade": trade_price, "mark": mark_price, "index": index_price}[kind](symbol, edges)
    scale = 100_000.0 / base_price(underlying(symbol)) if kind == "trade" else 0.0
    return candles_from_edges(seed, opens, np.round(prices, decimals), timeframe_ms=timeframe_ms, decimals=decimals,
                              volume_scale=scale)


def index_price(symbol: str, times_ms: np.ndarray) -> np.ndarray:
    """The unrounded index price: the underlying's spot path with a little noise of its own."""
    return price_path(underlying(symbol), times_ms) * (1 + _INDEX_NOISE * _noise(symbol, times_ms, "index"))


def mark_price(symbol: str, times_ms: np.ndarray) -> np.ndarray:
    """The unrounded mark price: the index times (1 + the smooth basis)."""
    return index_price(symbol, times_ms) * (1 + basis(symbol, times_ms))


def trade_price(symbol: str, times_ms: np.ndarray) -> np.ndarray:
    """The unrounded last trade price: the spot path times (1 + the basis + tick noise)."""
    noise = _TRADE_NOISE * _noise(symbol, times_ms, "trade")
    return price_path(underlying(symbol), times_ms) * (1 + basis(symbol, times_ms) + noise)


def basis(symbol: str, times_ms: np.ndarray) -> np.ndarray:
    """The perpetual's smooth premium over its index: a few basis points, swinging over three days."""
    phase = 2 * np.pi * (symbol_seed(symbol) % 1000) / 1000
    return _BASIS_MEAN + _BASIS_SWING * np.sin(2 * np.pi * times_ms.astype(np.float64) / _BASIS_PERIOD_MS + phase)


def premium(symbol: str, times_ms: np.ndarray) -> np.ndarray:
    """(mark - index) / index of the rounded prices at each instant, 8 decimals."""
    mark = np.round(mark_price(symbol, times_ms), MARK_DECIMALS)
    index = np.round(index_price(symbol, times_ms), MARK_DECIMALS)
    return np.round((mark - index) / index, PREMIUM_DECIMALS)


def funding_events(symbol: str, start_ms: int, end_ms: int) -> pl.DataFrame:
    """Every funding event scheduled in [start_ms, end_ms) from the listing up to now, oldest first: `open_ms` (the
    scheduled time), `funding_ms` (the venue's timestamp, a few ms late at times), `interval_hours` (of the interval
    the event ends), `rate` and `mark` (the mark price at the event)."""
    now = time.time_ns() // 1_000_000
    start, end = max(start_ms, perp_listed_since_ms(symbol)), min(end_ms, now + 1)
    times, hours, caps = [], [], []
    terms = funding_terms(symbol)
    for position, term in enumerate(terms):
        step = term.interval_hours * HOUR_MS
        until = terms[position + 1].since_ms if position + 1 < len(terms) else end
        first = -(-max(start, term.since_ms) // step) * step
        span = np.arange(first, max(first, min(until, end)), step, dtype=np.int64)
        times.append(span)
        hours.append(np.full(len(span), term.interval_hours, dtype=np.int64))
        caps.append(np.full(len(span), term.cap))
    opens, interval_hours, cap = np.concatenate(times), np.concatenate(hours), np.concatenate(caps)
    samples = opens[:, None] - (interval_hours[:, None] * HOUR_MS * np.arange(1, _FUNDING_SAMPLES + 1)) // (
        _FUNDING_SAMPLES)
    average = premium(symbol, samples.ravel()).reshape(samples.shape).mean(axis=1) if len(opens) else opens * 0.0
    interest = INTEREST_PER_8H * interval_hours / 8
    rate = np.clip(average + np.clip(interest - average, -PREMIUM_CLAMP, PREMIUM_CLAMP), -cap, cap)
    lag = (_uniform(symbol, opens, "lag") * (MAX_FUNDING_LAG_MS + 1)).astype(np.int64)
    return pl.DataFrame({
        "open_ms": opens, "funding_ms": opens + lag, "interval_hours": interval_hours,
        "rate": np.round(rate, RATE_DECIMALS) + 0.0, "mark": np.round(mark_price(symbol, opens), MARK_DECIMALS),
    }, schema={"open_ms": pl.Int64, "funding_ms": pl.Int64, "interval_hours": pl.Int64, "rate": pl.Float64,
               "mark": pl.Float64})


def open_interest(symbol: str, start_ms: int, end_ms: int, period_ms: int = OPEN_INTEREST_MS) -> pl.DataFrame:
    """Open interest at every `period_ms` instant in [start_ms, end_ms) from the listing up to now: `open_ms`,
    `amount` (base currency, never negative), `value` (quote currency at the mark price) and the four ratios of
    Binance's metrics files (top traders' accounts and positions, all accounts, taker buy/sell volume)."""
    now = time.time_ns() // 1_000_000
    first = -(-max(start_ms, perp_listed_since_ms(symbol)) // period_ms) * period_ms
    opens = np.arange(first, max(first, min(end_ms, now // period_ms * period_ms + 1)), period_ms, dtype=np.int64)
    t = opens.astype(np.float64)
    swing = 0.25 * np.sin(2 * np.pi * t / (29 * DAY_MS) + symbol_seed(symbol) % 7) + 0.05 * np.sin(
        2 * np.pi * t / DAY_MS)
    level = _OPEN_INTEREST_NOTIONAL / base_price(underlying(symbol))
    amount = np.round(level * np.exp(swing + 0.01 * _noise(symbol, opens, "oi")), OPEN_INTEREST_DECIMALS)
    mark = np.round(mark_price(symbol, opens), MARK_DECIMALS)
    ratios = {name: np.round(0.6 + 1.2 * _uniform(symbol, opens, "ratios", salt=i), RATIO_DECIMALS)
              for i, name in enumerate(("top_account_ratio", "top_position_ratio", "account_ratio", "taker_ratio"))}
    return pl.DataFrame({"open_ms": opens, "amount": amount, "value": np.round(amount * mark, MARK_DECIMALS),
                         **ratios}).with_columns(pl.col("open_ms").cast(pl.Int64))


def _uniform(symbol: str, keys: np.ndarray, stream: str, *, salt: int = 0) -> np.ndarray:
    """Uniform [0, 1) per key, independent across (instrument, stream, salt)."""
    offset = np.uint64((symbol_seed(symbol) ^ (_STREAMS[stream] << 56) ^ salt) & (2**64 - 1))
    return unit_hash(keys.astype(np.uint64) + offset)


def _noise(symbol: str, keys: np.ndarray, stream: str) -> np.ndarray:
    """Uniform [-1, 1) per key."""
    return 2 * _uniform(symbol, keys, stream) - 1


def _premium_candles(symbol: str, seed: int, opens: np.ndarray, edges: np.ndarray, *,
                     timeframe_ms: int) -> pl.DataFrame:
    """Premium candles: open and close are the premium at the edges, wicks a hashed fraction of a basis point."""
    values = premium(symbol, edges)
    open_, close = values[:-1], values[1:]
    wick = _PREMIUM_WICK * np.sqrt(timeframe_ms / 60_000)
    high = np.round(np.maximum(open_, close) + wick * _uniform(symbol, opens, "premium", salt=timeframe_ms),
                    PREMIUM_DECIMALS)
    low = np.round(np.minimum(open_, close) - wick * _uniform(symbol, opens, "premium", salt=seed), PREMIUM_DECIMALS)
    return pl.DataFrame({"open_ms": opens, "open": open_, "high": high, "low": low, "close": close,
                         "volume": np.zeros(len(opens)).round(VOLUME_DECIMALS)})
