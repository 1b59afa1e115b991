"""Candles from Yahoo Finance through the real `yfinance` client, window by window within Yahoo's per-interval depth.

Yahoo keeps 1-minute candles for 30 days and serves at most 8 days of them per request (the adapter asks 7), 2- to
30-minute candles for 60 days and hourly ones for 730; `cannot_serve` names the rule a window breaks. Yahoo lists
crypto under USD, not USDT: `BTC/USDT` is fetched as `BTC-USD` (see `quote_note`), and its volume is in the quote
currency, so the adapter converts it to base units as `volume / ((open + high + low + close) / 4)`, an estimate that
is exact only for a candle traded at its typical price. About half of Yahoo's intraday crypto bars come with volume
0 while prices move: that 0 means "not reported", so it is stored as Yahoo said it but never read as "no trades"
(`VenueQuirks.zero_volume_is_no_trades`, read by the anomaly check).

What touches yfinance (and pandas) is `yahoo_client.py`, made at the adapter's first request: every run builds its
symbols' failover chains, Yahoo in them, but few runs ever ask Yahoo, and none should pay for importing it.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from datafactory_assets.datasets import SPOT_CANDLES, Dataset
from datafactory_assets.frames import empty_candles
from datafactory_assets.sources.base import (
    ErrorKind,
    FetchResult,
    RequestRecord,
    SourceError,
    epoch_ms,
    naive_utc,
    recorded,
    runner,
    unserved,
)

if TYPE_CHECKING:
    from datafactory_assets.sources.yahoo_client import YahooClient

DAY_MS = 86_400_000
# Where emulated runs keep yfinance's caches when no `cache_dir` is given: never the user's own yfinance cache.
EMULATOR_CACHE_DIR = Path(tempfile.gettempdir()) / "datafactory-yfinance-emulator"
# A window starting this close to the depth limit would cross it before its first request (and retries) arrive.
_DEPTH_MARGIN_MS = 10 * 60_000


@dataclass(frozen=True)
class YahooInterval:
    """One of Yahoo's intervals: its name, length, how far back Yahoo keeps it, and how much one request may span."""

    name: str
    ms: int
    depth_days: int
    span_days: int | None = None


# Platform timeframe -> Yahoo interval. 30m is fetched by yfinance as 15m and resampled (a Yahoo bug workaround).
INTERVALS: dict[str, YahooInterval] = {
    "1m": YahooInterval("1m", 60_000, depth_days=30, span_days=7),  # Yahoo: 8 days per request
    "2m": YahooInterval("2m", 120_000, depth_days=60),
    "5m": YahooInterval("5m", 300_000, depth_days=60),
    "15m": YahooInterval("15m", 900_000, depth_days=60),
    "30m": YahooInterval("30m", 1_800_000, depth_days=60),
    "1h": YahooInterval("1h", 3_600_000, depth_days=730),
}


class YahooCandleSource:
    """Yahoo through yfinance; `emulator_url` sends yfinance's session to the emulator, its only test switch.

    `cache_dir` is where yfinance keeps its caches (default: yfinance's own, or `EMULATOR_CACHE_DIR` when emulated),
    set process-wide when the client is made, at the first request.
    """

    name = "yahoo"
    publishes_later = False  # its depth only recedes: a window it cannot serve never becomes servable
    lists_pairs = True  # an unknown ticker is refused (YFTickerMissingError, a permanent error)

    def __init__(self, *, emulator_url: str | None = None, symbol_map: dict[str, str] | None = None,
                 timeout_s: float = 10, cache_dir: str | Path | None = None):
        if cache_dir is None and emulator_url:
            cache_dir = EMULATOR_CACHE_DIR
        self.emulator_url = emulator_url
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.symbol_map = dict(symbol_map or {})
        self.timeout_s = timeout_s

    @cached_property
    def client(self) -> YahooClient:
        """yfinance's client, imported and made when first asked for."""
        from datafactory_assets.sources.yahoo_client import YahooClient

        return YahooClient(emulator_url=self.emulator_url, cache_dir=self.cache_dir, timeout_s=self.timeout_s,
                           name=self.name)

    @property
    def session(self):
        """The session every yfinance request of this adapter goes through."""
        return self.client.session

    def ticker(self, symbol: str) -> str:
        """`BTC/USDT` -> `BTC-USD` (Yahoo's USD stands for USDT), `ETH/BTC` -> `ETH-BTC`; `symbol_map` first."""
        if symbol in self.symbol_map:
            return self.symbol_map[symbol]
        base, quote = symbol.split("/")
        return f"{base}-{'USD' if quote == 'USDT' else quote}"

    def quote_note(self, symbol: str) -> str | None:
        """What to say in materialization metadata when Yahoo's quote currency is not the symbol's."""
        ticker = self.ticker(symbol)
        quote, served = symbol.split("/")[1], ticker.rpartition("-")[2]
        if served == quote:
            return None
        return f"{self.name} serves {ticker} ({served}) for {symbol} ({quote})"

    def first_candle_since(self, symbol: str, *, since: datetime, timeframe: str, guard=None,
                           dataset: Dataset = SPOT_CANDLES) -> datetime | None:
        """Not asked of Yahoo: it keeps 1-minute bars for 30 days only, so it cannot date a listing."""
        return None

    def delisted_at(self, symbol: str, *, timeframe: str, guard=None,
                    dataset: Dataset = SPOT_CANDLES) -> datetime | None:
        """Not asked of Yahoo: it prices the pair in another quote currency and keeps 30 days."""
        return None

    def cannot_serve(self, start: datetime, timeframe: str, *, dataset: Dataset = SPOT_CANDLES) -> str | None:
        """Why Yahoo cannot serve a window of `dataset` starting at `start`: a dataset other than spot candles, an
        interval it lacks, or one it keeps less long."""
        missing = unserved(dataset, self.name)
        if missing:
            return missing
        interval = INTERVALS.get(timeframe)
        if interval is None:
            return f"{self.name} has no {timeframe} candles; it serves {', '.join(INTERVALS)}"
        oldest_ms = _now_ms() - interval.depth_days * DAY_MS + _DEPTH_MARGIN_MS
        if epoch_ms(start) < oldest_ms:
            return (f"{self.name} serves {timeframe} candles only within the last {interval.depth_days} days; "
                    f"the window starts {naive_utc(epoch_ms(start)):%Y-%m-%d %H:%M} UTC")
        return None

    def fetch_range(self, symbol: str, *, start: datetime, end: datetime, timeframe: str, guard=None,
                    dataset: Dataset = SPOT_CANDLES) -> FetchResult:
        """All closed candles with open time in [start, end), oldest first, as the canonical frame (`source` yahoo);
        Yahoo serves spot candles alone (`dataset`: KeyError naming it for another).

        1-minute windows go out in 7-day requests, others in one. Each request goes through `guard.run` when given.
        Raises `SourceError` (with the requests made so far) when Yahoo fails, `BrokenAnswerError` when an answer is
        not data, and a permanent `SourceError` without a request for a timeframe Yahoo lacks.
        """
        dataset.endpoint(self.name)
        interval = INTERVALS.get(timeframe)
        if interval is None:
            raise SourceError(self.cannot_serve(start, timeframe), kind=ErrorKind.PERMANENT)
        run = runner(guard)
        start_ms, end_ms = epoch_ms(start), min(epoch_ms(end), _now_ms() // interval.ms * interval.ms)
        step = interval.span_days * DAY_MS if interval.span_days else max(end_ms - start_ms, 1)
        requests: list[RequestRecord] = []
        frames = []
        try:
            for since in range(start_ms, end_ms, step):
                frames.append(run(lambda a=since, b=min(since + step, end_ms): self._chart(
                    symbol, interval, start_ms=a, end_ms=b, requests=requests)))
        except SourceError as exc:
            exc.requests = requests
            raise
        frame = pl.concat([empty_candles(), *frames]).filter(
            pl.col("ts").is_between(naive_utc(start_ms), naive_utc(end_ms), closed="left"))
        return FetchResult(frame=frame.unique(subset="ts", keep="first").sort("ts"), requests=requests)

    def _chart(self, symbol: str, interval: YahooInterval, *, start_ms: int, end_ms: int,
               requests: list[RequestRecord]) -> pl.DataFrame:
        """One chart request, recorded whatever happens."""
        with recorded(requests, source=self.name, symbol=symbol, window_start=naive_utc(start_ms),
                      window_end=naive_utc(end_ms)) as probe:
            frame = self.client.history(self.ticker(symbol), interval=interval.name, symbol=symbol,
                                        start_ms=start_ms, end_ms=end_ms)
            probe.rows = frame.height
        return frame


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
