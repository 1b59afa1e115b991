"""Candles from Yahoo Finance through the real `yfinance` client, window by window within Yahoo's per-interval depth.

Yahoo keeps 1-minute candles for 30 days and serves at most 8 days of them per request (the adapter asks 7), 2- to
30-minute candles for 60 days and hourly ones for 730; `cannot_serve` names the rule a window breaks. Yahoo lists
crypto under USD, not USDT: `BTC/USDT` is fetched as `BTC-USD` (see `quote_note`), and its volume is in the quote
currency, so the adapter converts it to base units as `volume / ((open + high + low + close) / 4)`, an estimate that
is exact only for a candle traded at its typical price. About half of Yahoo's intraday crypto bars come with volume
0 while prices move: that 0 means "not reported", so it is stored as Yahoo said it but never read as "no trades"
(`VenueQuirks.zero_volume_is_no_trades`, read by the anomaly check).

yfinance hides failures as empty frames by default, memoizes answers (errors too) per process, and reports an HTTP
error as "no price data" whatever the status; the adapter makes it raise, clears its memo after every request, and
watches the status of each chart answer on the session so that failures are classified by what Yahoo answered.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import yfinance as yf
from yfinance._http import new_session  # yfinance's own session (curl_cffi, browser TLS), made here to be watched
from yfinance.cache import get_tz_cache
from yfinance.data import YfData
from yfinance.exceptions import (YFException, YFPricesMissingError, YFRateLimitError,
                                 YFTickerMissingError)

from datafactory_assets.frames import PRICE_COLUMNS, candles_from_columns, empty_candles
from datafactory_assets.sources.base import (
    BrokenAnswerError,
    ErrorKind,
    FetchResult,
    RequestRecord,
    SourceError,
    epoch_ms,
    naive_utc,
    recorded,
    retry_after_s,
    runner,
    status_kind,
)
from datafactory_assets.sources.transport import EmulatorSession

DAY_MS = 86_400_000
CHART_PATH = "/v8/finance/chart/"
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

    yfinance keeps one session, one config and one cache location per process: the adapter's session is handed to
    every `Ticker` it makes, errors are made to raise (`yf.config.debug.hide_exceptions = False`) before each
    request, and `cache_dir` (default: yfinance's own, or `EMULATOR_CACHE_DIR` when emulated) is set at start.
    """

    name = "yahoo"
    publishes_later = False  # its depth only recedes: a window it cannot serve never becomes servable
    lists_pairs = True  # an unknown ticker is refused (YFTickerMissingError, a permanent error)

    def __init__(self, *, emulator_url: str | None = None, symbol_map: dict[str, str] | None = None,
                 timeout_s: float = 10, cache_dir: str | Path | None = None):
        if cache_dir is None and emulator_url:
            cache_dir = EMULATOR_CACHE_DIR
        if cache_dir is not None:
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
            yf.set_tz_cache_location(str(cache_dir))
        if emulator_url:
            session = EmulatorSession(base_url=emulator_url, venue=self.name)
        else:
            session = new_session()
        self._answers = threading.local()
        self.session = _watch_chart_answers(session, self._answers)
        self.symbol_map = dict(symbol_map or {})
        self.timeout_s = timeout_s
        self._utc_tickers: set[str] = set()

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

    def first_candle_since(self, symbol: str, *, since: datetime, timeframe: str, guard=None) -> datetime | None:
        """Not asked of Yahoo: it keeps 1-minute bars for 30 days only, so it cannot date a listing."""
        return None

    def cannot_serve(self, start: datetime, timeframe: str) -> str | None:
        """Why Yahoo cannot serve a window starting at `start`: an interval it lacks, or one it keeps less long."""
        interval = INTERVALS.get(timeframe)
        if interval is None:
            return f"{self.name} has no {timeframe} candles; it serves {', '.join(INTERVALS)}"
        oldest_ms = _now_ms() - interval.depth_days * DAY_MS + _DEPTH_MARGIN_MS
        if epoch_ms(start) < oldest_ms:
            return (f"{self.name} serves {timeframe} candles only within the last {interval.depth_days} days; "
                    f"the window starts {naive_utc(epoch_ms(start)):%Y-%m-%d %H:%M} UTC")
        return None

    def fetch_range(self, symbol: str, *, start: datetime, end: datetime, timeframe: str,
                    guard=None) -> FetchResult:
        """All closed candles with open time in [start, end), oldest first, as the canonical frame (`source` yahoo).

        1-minute windows go out in 7-day requests, others in one. Each request goes through `guard.run` when given.
        Raises `SourceError` (with the requests made so far) when Yahoo fails, `BrokenAnswerError` when an answer is
        not data, and a permanent `SourceError` without a request for a timeframe Yahoo lacks.
        """
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
            frame = self._history(symbol, interval, start_ms=start_ms, end_ms=end_ms)
            probe.rows = frame.height
        return frame

    def _history(self, symbol: str, interval: YahooInterval, *, start_ms: int, end_ms: int) -> pl.DataFrame:
        ticker = self.ticker(symbol)
        self._assume_utc(ticker)
        self._answers.status, self._answers.headers = None, {}
        yf.config.debug.hide_exceptions = False
        try:
            history = yf.Ticker(ticker, session=self.session).history(
                start=start_ms // 1000, end=-(-end_ms // 1000), interval=interval.name, prepost=True,
                auto_adjust=False, actions=False, timeout=self.timeout_s,
            )
        except (YFException, ValueError, OSError, LookupError) as exc:
            status = self._answers.status
            if status == 200 and isinstance(exc, YFPricesMissingError) and exc.yahoo_reason is None:
                return empty_candles()  # Yahoo's answer for a window without candles: a result with no quotes
            kind = classify(exc, status)
            first, last = naive_utc(start_ms), naive_utc(end_ms)
            where = f"{self.name} {ticker} {interval.name} {first:%Y-%m-%d %H:%M}..{last:%Y-%m-%d %H:%M}"
            message = f"{where}:{f' HTTP {status}' if status else ''} {type(exc).__name__}: {exc}"
            error = BrokenAnswerError if kind is ErrorKind.BROKEN else SourceError
            raise error(message, kind=kind, retry_after_s=retry_after_s(self._answers.headers)) from exc
        finally:
            YfData.cache_get.cache_clear()  # a memoized error would answer the retry; a memoized page only costs memory
        return _candles(history, symbol=symbol, source=self.name)

    def _assume_utc(self, ticker: str) -> None:
        """Yahoo lists every crypto pair (exchange CCC) in UTC; telling yfinance's timezone cache so spares the chart
        request it would otherwise spend finding out, whose failure it reports as a delisted ticker."""
        if ticker not in self._utc_tickers:
            get_tz_cache().store(ticker, "UTC")
            self._utc_tickers.add(ticker)


def classify(exc: BaseException, status: int | None) -> ErrorKind:
    """By Yahoo's HTTP status first (yfinance reports every refusal as missing prices), then by the exception."""
    if isinstance(exc, YFRateLimitError):
        return ErrorKind.THROTTLED
    by_status = status_kind(status)
    if by_status is not None:
        return by_status
    if isinstance(exc, YFTickerMissingError):
        return ErrorKind.PERMANENT
    if isinstance(exc, json.JSONDecodeError | LookupError):  # a 200 body that is not JSON, or not a chart
        return ErrorKind.BROKEN
    return ErrorKind.TRANSIENT  # connection, timeout, "Yahoo is currently down"


def _watch_chart_answers(session, answers: threading.local):
    """Record, per thread, the status and headers of each chart answer the session gets: yfinance keeps neither."""
    get = session.get

    def watched_get(*args, **kwargs):
        response = get(*args, **kwargs)
        if CHART_PATH in str(kwargs.get("url", args[0] if args else "")):
            answers.status, answers.headers = response.status_code, response.headers
        return response

    session.get = watched_get
    return session


def _candles(history: pd.DataFrame, *, symbol: str, source: str) -> pl.DataFrame:
    """yfinance's frame (tz-aware index of open times, quote volume) -> the canonical frame, volume in base units."""
    if history.empty:
        return empty_candles()
    open_ms = ((history.index - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)).to_numpy()
    prices = [history[column].to_numpy(dtype=np.float64) for column in ("Open", "High", "Low", "Close")]
    typical = sum(prices) / 4
    with np.errstate(divide="ignore", invalid="ignore"):
        volume = np.where(typical > 0, history["Volume"].to_numpy(dtype=np.float64) / typical, np.nan)
    columns = pl.DataFrame({"open_ms": open_ms, **dict(zip(PRICE_COLUMNS, prices, strict=True)), "volume": volume})
    return candles_from_columns(columns, symbol=symbol, source=source).with_columns(pl.col("volume").fill_nan(None))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
