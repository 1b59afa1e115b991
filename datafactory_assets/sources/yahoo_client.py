"""The part of the Yahoo adapter that touches `yfinance`: one chart request through yfinance's client, its answer as
the canonical frame and its failure classified.

It lives apart from `yahoo_source.py` because importing yfinance brings pandas with it (about a quarter of a run
process's imports in a profile of `bench/history.py`), while most runs never ask Yahoo: the adapter imports this
module at its first request.

yfinance hides failures as empty frames by default, memoizes answers (errors too) per process, and reports an HTTP
error as "no price data" whatever the status; the client makes it raise, clears its memo after every request, and
watches the status of each chart answer on the session so that failures are classified by what Yahoo answered.
"""

from __future__ import annotations

import json
import threading
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
    SourceError,
    naive_utc,
    retry_after_s,
    status_kind,
)
from datafactory_assets.sources.transport import EmulatorSession

CHART_PATH = "/v8/finance/chart/"


class YahooClient:
    """yfinance keeps one session, one config and one cache location per process: the client's session is handed to
    every `Ticker` it makes, errors are made to raise (`yf.config.debug.hide_exceptions = False`) before each
    request, and `cache_dir`, when given, is set when the client is made."""

    def __init__(self, *, emulator_url: str | None, cache_dir: Path | None, timeout_s: float, name: str):
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            yf.set_tz_cache_location(str(cache_dir))
        session = EmulatorSession(base_url=emulator_url, venue=name) if emulator_url else new_session()
        self._answers = threading.local()
        self.session = _watch_chart_answers(session, self._answers)
        self.timeout_s = timeout_s
        self.name = name
        self._utc_tickers: set[str] = set()

    def history(self, ticker: str, *, interval: str, symbol: str, start_ms: int, end_ms: int) -> pl.DataFrame:
        """One chart request for [start_ms, end_ms) as the canonical frame (empty when Yahoo has no candles there);
        raises `SourceError` or `BrokenAnswerError` by what Yahoo answered."""
        self._assume_utc(ticker)
        self._answers.status, self._answers.headers = None, {}
        yf.config.debug.hide_exceptions = False
        try:
            history = yf.Ticker(ticker, session=self.session).history(
                start=start_ms // 1000, end=-(-end_ms // 1000), interval=interval, prepost=True,
                auto_adjust=False, actions=False, timeout=self.timeout_s,
            )
        except (YFException, ValueError, OSError, LookupError) as exc:
            status = self._answers.status
            if status == 200 and isinstance(exc, YFPricesMissingError) and exc.yahoo_reason is None:
                return empty_candles()  # Yahoo's answer for a window without candles: a result with no quotes
            kind = classify(exc, status)
            first, last = naive_utc(start_ms), naive_utc(end_ms)
            where = f"{self.name} {ticker} {interval} {first:%Y-%m-%d %H:%M}..{last:%Y-%m-%d %H:%M}"
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
