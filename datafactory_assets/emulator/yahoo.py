"""Yahoo Finance as yfinance 1.x uses it: the cookie and crumb handshake, then `/v8/finance/chart/{ticker}`.

yfinance sends every host (fc.yahoo.com, query1/query2.finance.yahoo.com, guce/consent.yahoo.com) through one
session, so under `/yahoo` the paths of all of them live side by side. The chart answers like Yahoo's: columnar
arrays in seconds, `[period1, period2)` windows, per-interval history depth and span rules answered with HTTP 422,
a plain-text 429, and the meta block yfinance reads its timezone, currency and trading periods from. `BTC-USD`
serves the candles of `BTC/USDT` (Yahoo's USD stands for the USDT pairs); volume is the quote (USD) volume in whole
units, as Yahoo reports crypto volume and yfinance casts it to int64.

Intraday crypto bars come with volume 0 for about half of them, at random, while their prices move: "Random Volume 0
values. They're in about half of the output." (yfinance issue #2686, BTC-USD 4h bars; #1934 shows the same in 10m
bars). Yahoo's 0 there means "not reported", not "no trades"; the emulator zeroes a fixed half of intraday bars
(`unreported_volume`), daily bars keep theirs.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from urllib.parse import unquote

import numpy as np

from datafactory_assets.emulator.candles import LISTED_SINCE_MS, listed_since_ms, unit_hash
from datafactory_assets.emulator.encode import json_rows
from datafactory_assets.emulator.venue import Request, Response, Venue, json_response

DAY_S = 86_400
CHART_PREFIX = "/v8/finance/chart/"
QUOTE_SUMMARY_PREFIX = "/v10/finance/quoteSummary/"
# interval -> (candle length in ms, how many days back Yahoo keeps it, or None for all history)
INTERVALS: dict[str, tuple[int, int | None]] = {
    "1m": (60_000, 30),
    "2m": (120_000, 60),
    "5m": (300_000, 60),
    "15m": (900_000, 60),
    "30m": (1_800_000, 60),
    "60m": (3_600_000, 730),
    "90m": (5_400_000, 60),
    "1h": (3_600_000, 730),
    "4h": (14_400_000, 730),
    "1d": (86_400_000, None),
}
MAX_SPAN_DAYS = {"1m": 8}  # "Only 8 days worth of 1m granularity data are allowed to be fetched per request."
VALID_RANGES = ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"]
_RANGE = re.compile(r"^([1-9][0-9]*)(d|wk|mo|y)$")
_RANGE_DAYS = {"d": 1, "wk": 7, "mo": 30, "y": 365}
_INTEGER = re.compile(r"^-?[0-9]{1,12}$")
UNREPORTED_SHARE = 0.5  # of intraday bars whose volume Yahoo reports as 0
_UNREPORTED_SALT = np.uint64(0x59A400)  # so that which bars lose their volume is unrelated to the holes fault
_REASONS = {400: "Bad Request", 404: "Not Found", 422: "Unprocessable Entity", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
CRUMB = "emuCrumb0Yh"
_COOKIE = "A3=d=AQABBEmuLAtorCookie0000000000&S=AQAAAEmuLAtor; Max-Age=31557600; Path=/; SameSite=None; HttpOnly"
_CONSENT_FORM = (
    '<html><body><form method="post" action="https://consent.yahoo.com/v2/collectConsent?sessionId=emu-session">'
    '<input type="hidden" name="csrfToken" value="emuCsrfToken"/>'
    '<input type="hidden" name="sessionId" value="emu-session"/>'
    '<input type="hidden" name="originalDoneUrl" value="https://finance.yahoo.com/"/>'
    '<input type="hidden" name="namespace" value="yahoo"/>'
    '<button type="submit" name="agree" value="agree">Accept all</button></form></body></html>'
).encode()
_HTML = {"Content-Type": "text/html; charset=utf-8"}
_TEXT = {"Content-Type": "text/plain; charset=utf-8"}


class ChartError(Exception):
    """A chart request Yahoo refuses: the HTTP status and Yahoo's description."""

    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status = status


def yahoo_ticker(symbol: str) -> str:
    """`BTC/USDT` -> `BTC-USD`, `ETH/BTC` -> `ETH-BTC`."""
    base, quote = symbol.split("/")
    return f"{base}-{'USD' if quote == 'USDT' else quote}"


class YahooVenue(Venue):
    """The handshake pages (`/`, `/v1/test/getcrumb`, the consent pages) and `/v8/finance/chart/{ticker}`."""

    id = "yahoo"

    def __init__(self, store):
        super().__init__(store)
        self._by_ticker = {yahoo_ticker(symbol): symbol for symbol in store.symbols}

    def respond(self, request: Request) -> Response:
        if request.path == "/":  # fc.yahoo.com: a 404 page whose only use is the A3 cookie it sets
            return Response(status=404, body=b"<html><body>Not Found</body></html>", headers={**_HTML,
                            "Set-Cookie": _COOKIE})
        if request.path == "/v1/test/getcrumb":
            return Response(status=200, body=CRUMB.encode(), headers=_TEXT)
        if request.path == "/consent":  # guce.yahoo.com: the form yfinance's "csrf" cookie strategy scrapes
            return Response(status=200, body=_CONSENT_FORM, headers=_HTML)
        if request.path in ("/v2/collectConsent", "/copyConsent"):
            return Response(status=200, body=b"<html><body>OK</body></html>", headers={**_HTML, "Set-Cookie": _COOKIE})
        if request.path.startswith(CHART_PREFIX) and request.method == "GET":
            try:
                return self._chart(request)
            except ChartError as exc:
                return self.error(exc.status, str(exc))
        if request.path.startswith(QUOTE_SUMMARY_PREFIX):  # yfinance's timezone fallback, only for unknown tickers
            ticker = unquote(request.path[len(QUOTE_SUMMARY_PREFIX) :])
            return json_response(404, {"quoteSummary": {"result": None, "error": {
                "code": "Not Found", "description": f"Quote not found for symbol: {ticker}"}}})
        return json_response(404, {"finance": {"result": None, "error": {"code": "Not Found",
                                                                          "description": "HTTP 404 Not Found"}}})

    def is_data(self, request: Request) -> bool:
        return request.path.startswith(CHART_PREFIX)

    def error(self, status: int, message: str) -> Response:
        if status == 429:  # Yahoo's throttle answer is plain text, which is what yfinance looks for
            return Response(status=429, body=b"Too Many Requests", headers=_TEXT)
        code = _REASONS.get(status, "Bad Request" if status < 500 else "Internal Server Error")
        return json_response(status, {"chart": {"result": None, "error": {"code": code, "description": message}}})

    def empty(self) -> Response:
        meta = {"instrumentType": "CRYPTOCURRENCY", "gmtoffset": 0, "timezone": "UTC", "exchangeTimezoneName": "UTC"}
        return json_response(200, {"chart": {"result": [{"meta": meta, "indicators": {"quote": [{}]}}], "error": None}})

    def _chart(self, request: Request) -> Response:
        ticker = unquote(request.path[len(CHART_PREFIX) :]).upper()
        symbol = self._by_ticker.get(ticker)
        if symbol is None:
            raise ChartError(404, "No data found, symbol may be delisted")
        interval = request.query.get("interval", "1d")
        if interval not in INTERVALS:
            raise ChartError(400, f"Invalid input - interval={interval} is not supported by the emulator. "
                                  f"Valid intervals: [{', '.join(INTERVALS)}]")
        timeframe_ms, depth_days = INTERVALS[interval]
        now_s = request.now_ms // 1000
        start_s, end_s, range_label = _window(request.query, now_s)
        _check_history(interval, start_s=start_s, end_s=end_s, depth_days=depth_days, now_s=now_s)
        page = self.store.page(
            symbol,
            timeframe_ms=timeframe_ms,
            start_ms=start_s * 1000,
            end_ms=end_s * 1000 - 1,
            limit=(end_s - start_s) * 1000 // timeframe_ms + 1,
            now_ms=request.now_ms,
        )
        meta = self._meta(symbol, ticker, interval=interval, range_label=range_label, now_ms=request.now_ms)
        if interval[-1] in "mh" and page.frame.height:
            prepost = request.query.get("includePrePost", "false").lower() == "true"
            meta["tradingPeriods"] = _trading_periods(page.frame["open_ms"].to_numpy(), prepost=prepost)
        body = b'{"chart":{"result":[{"meta":' + json.dumps(meta, separators=(",", ":")).encode()
        body += _columns(page.frame, daily=interval == "1d") + b'}],"error":null}}'
        # A cached answer keeps its meta's market price and time; yfinance reads only meta fields that never change.
        return Response(status=200, body=body, cacheable=page.final)

    def _meta(self, symbol: str, ticker: str, *, interval: str, range_label: str, now_ms: int) -> dict:
        latest = self.store.page(symbol, timeframe_ms=60_000, start_ms=None, end_ms=None, limit=1, now_ms=now_ms)
        price = latest.frame["close"][-1] if latest.frame.height else None
        currency = ticker.split("-")[1]
        today = now_ms // 1000 // DAY_S * DAY_S
        return {
            "currency": currency,
            "symbol": ticker,
            "exchangeName": "CCC",
            "fullExchangeName": "CCC",
            "instrumentType": "CRYPTOCURRENCY",
            "firstTradeDate": listed_since_ms(symbol) // 1000,
            "regularMarketTime": now_ms // 1000,
            "hasPrePostMarketData": False,
            "gmtoffset": 0,
            "timezone": "UTC",
            "exchangeTimezoneName": "UTC",
            "regularMarketPrice": price,
            "longName": f"{ticker.split('-')[0]} {currency}",
            "shortName": f"{ticker.split('-')[0]} {currency}",
            "scale": 3,
            "priceHint": self.store.price_decimals(symbol),
            "currentTradingPeriod": {
                "pre": _period(today, today),
                "regular": _period(today, today + DAY_S - 60),
                "post": _period(today + DAY_S - 60, today + DAY_S - 60),
            },
            "dataGranularity": "1h" if interval == "60m" else interval,
            "range": range_label,
            "validRanges": VALID_RANGES,
        }


def _window(query: dict[str, str], now_s: int) -> tuple[int, int, str]:
    """(period1, period2, range label) in seconds: explicit periods, else a `range` ending now (default 1d)."""
    if "period1" in query:
        start_s = _seconds(query, "period1")
        end_s = _seconds(query, "period2") if "period2" in query else now_s
        if start_s > end_s:
            raise ChartError(400, f"Invalid input - start date cannot be after end date. startDate = {start_s}, "
                                  f"endDate = {end_s}")
        return start_s, end_s, ""
    label = query.get("range", "1d")
    if label == "max":
        return LISTED_SINCE_MS // 1000, now_s, label
    if label == "ytd":
        return int(datetime(datetime.fromtimestamp(now_s, UTC).year, 1, 1, tzinfo=UTC).timestamp()), now_s, label
    match = _RANGE.match(label)
    if match is None:
        raise ChartError(400, f"Invalid input - range={label} is not supported. Valid ranges: "
                              f"[{', '.join(VALID_RANGES)}]")
    return now_s - int(match[1]) * _RANGE_DAYS[match[2]] * DAY_S, now_s, label


def _seconds(query: dict[str, str], name: str) -> int:
    value = query[name]
    if not _INTEGER.match(value):
        raise ChartError(400, f"Invalid input - {name}={value} is not a valid timestamp")
    return int(value)


def _check_history(interval: str, *, start_s: int, end_s: int, depth_days: int | None, now_s: int) -> None:
    """Yahoo refuses the whole window (no partial answer) when it starts beyond the interval's depth or is too long."""
    prefix = f"{interval} data not available for startTime={start_s} and endTime={end_s}."
    if depth_days is not None and start_s < now_s - depth_days * DAY_S:
        raise ChartError(422, f"{prefix} The requested range must be within the last {depth_days} days.")
    span_days = MAX_SPAN_DAYS.get(interval)
    if span_days is not None and end_s - start_s > span_days * DAY_S:
        raise ChartError(422, f"{prefix} Only {span_days} days worth of {interval} granularity data are allowed to "
                              "be fetched per request.")


def _period(start_s: int, end_s: int) -> dict:
    return {"timezone": "UTC", "start": start_s, "end": end_s, "gmtoffset": 0}


def _trading_periods(open_ms: np.ndarray, *, prepost: bool) -> list | dict:
    """One 00:00-23:59 UTC session per day of the page, the way Yahoo describes crypto's round-the-clock trading.

    The session "ends" at 23:59, so yfinance without `prepost=True` drops each day's 23:59 candle, as it does with
    the real Yahoo. With pre/post requested Yahoo sends the sessions split into pre, regular and post.
    """
    days = range(int(open_ms[0]) // 1000 // DAY_S * DAY_S, int(open_ms[-1]) // 1000 + 1, DAY_S)
    regular = [[_period(day, day + DAY_S - 60)] for day in days]
    if not prepost:
        return regular
    return {"pre": [[_period(day, day)] for day in days], "regular": regular,
            "post": [[_period(day + DAY_S - 60, day + DAY_S - 60)] for day in days]}


def unreported_volume(open_ms: np.ndarray) -> np.ndarray:
    """Which intraday bars (by open time in ms) Yahoo answers with volume 0: a fixed half of them."""
    return unit_hash(open_ms.astype(np.uint64) + _UNREPORTED_SALT) < UNREPORTED_SHARE


def _columns(frame, *, daily: bool) -> bytes:
    """`,"timestamp":[..],"indicators":{..}`; an empty page has no timestamps and one empty quote, as Yahoo sends."""
    if frame.is_empty():
        return b',"indicators":{"quote":[{}]}'
    open_, high, low, close, volume = (frame[c].to_numpy() for c in ("open", "high", "low", "close", "volume"))
    quote_volume = np.rint(volume * (open_ + high + low + close) / 4).astype(np.int64)
    if not daily:
        quote_volume[unreported_volume(frame["open_ms"].to_numpy())] = 0
    closes = json_rows([close])
    body = (
        b',"timestamp":' + json_rows([frame["open_ms"].to_numpy() // 1000])
        + b',"indicators":{"quote":[{"open":' + json_rows([open_]) + b',"high":' + json_rows([high])
        + b',"low":' + json_rows([low]) + b',"close":' + closes + b',"volume":' + json_rows([quote_volume]) + b"}]"
    )
    if daily:  # Yahoo adds adjusted closes to daily and longer bars only
        body += b',"adjclose":[{"adjclose":' + closes + b"}]"
    return body + b"}"
