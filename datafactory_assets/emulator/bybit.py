"""The Bybit v5 REST dialect, spot and linear perpetuals, as far as ccxt's `load_markets` and `fetch_ohlcv` exercise it.

`/v5/market/kline` takes `start` and `end` in milliseconds, both matching the candle that contains them. With only a
start a page holds the oldest `limit` candles from it; with an end (alone or with a start) the newest `limit` up to
it, as Bybit's own examples show; rows come newest first, at most 1000 (default 200). Bybit answers its own refusals
with HTTP 200 and a `retCode` (10001 for bad parameters, with "Not supported symbols" for an unknown one); HTTP
errors come from its gateway (5xx as an HTML page). Every answer carries the `X-Bapi-Limit*` headers of the per-IP
quota.

Over the per-IP quota (600 requests per 5 s) Bybit does not answer 429: it bans the IP. "If you encounter the error
'403, access too frequent', it indicates that your IP has exceeded the allowed request frequency. In this case, you
should terminate all HTTP sessions and wait for at least 10 minutes. The ban will be lifted automatically." (Bybit
API docs, Rate Limit, bybit-exchange.github.io/docs/p2p/rate-limit; the v5 pages say "usually 30 minutes" and that
403 also answers IPs from countries it does not serve). So every refusal of the quota here is that 403, for
`BAN_S` from the first request over it, with a plain-text body (the docs quote only the words, not the bytes).
ccxt maps HTTP 403 to RateLimitExceeded for Bybit (ts/src/bybit.ts `httpExceptions`).

Linear perpetuals (`bybit_linear.py` has their instruments, funding and open interest): `category=linear` klines
serve a perpetual's trade candles by its symbol (`BTCUSDT`), and `mark-price-kline`, `index-price-kline` and
`premium-index-price-kline` (linear only) its mark, index and premium candles, paged as `kline` is, each row five
strings `[start, open, high, low, close]` (docs/v5/market/mark-kline.mdx, index-kline.mdx, premium-index-kline.mdx:
`limit` [1, 1000], default 200, "Sort in reverse by `start`").
"""

from __future__ import annotations

import re
import threading
import time
from http.client import responses

import numpy as np
import polars as pl

from datafactory_assets.emulator import bybit_linear
from datafactory_assets.emulator.encode import json_rows
from datafactory_assets.emulator.perp_series import perpetual_of
from datafactory_assets.emulator.venue import RateBudget, Request, Response, Venue, json_response

INTERVALS_MS = {
    "1": 60_000,
    "3": 180_000,
    "5": 300_000,
    "15": 900_000,
    "30": 1_800_000,
    "60": 3_600_000,
    "120": 7_200_000,
    "240": 14_400_000,
    "360": 21_600_000,
    "720": 43_200_000,
    "D": 86_400_000,
}
KLINE = "/v5/market/kline"
KLINES = {KLINE: "trade", "/v5/market/mark-price-kline": "mark", "/v5/market/index-price-kline": "index",
          "/v5/market/premium-index-price-kline": "premium"}
DEFAULT_LIMIT, MAX_LIMIT = 200, 1000
CATEGORIES = ("spot", "linear", "inverse", "option")
QUOTA, QUOTA_WINDOW_MS = 600, 5_000  # public endpoints: 600 requests per 5 seconds per IP
BAN_S = 600  # "wait for at least 10 minutes"
BAN_BODY = b"403, access too frequent"
_INTEGER = re.compile(r"^[0-9]{1,19}$")


class BadParameter(Exception):
    """A request Bybit refuses with retCode 10001 (in an HTTP 200 answer)."""


class BybitVenue(Venue):
    """`/v5/market/time` and `/instruments-info`; spot and linear klines, linear mark, index and premium-index klines,
    funding history and open interest."""

    id = "bybit"
    rate_budget = RateBudget(QUOTA, window_s=QUOTA_WINDOW_MS / 1000, ban_s=BAN_S, bans_at_once=True)

    def __init__(self, store):
        super().__init__(store)
        self._by_id = {symbol.replace("/", ""): symbol for symbol in store.symbols}
        self._linear = {bybit_linear.symbol_id(perpetual_of(symbol)): perpetual_of(symbol) for symbol in store.symbols
                        if symbol.endswith("/USDT")}
        self._instruments = [self._instrument(symbol) for symbol in store.symbols]
        self._quota_lock = threading.Lock()
        self._quota_window, self._quota_used = 0, 0

    def respond(self, request: Request) -> Response:
        if request.method != "GET":
            return self.error(405, f"{request.method} is not supported on {request.path}")
        try:
            if request.path == "/v5/market/time":
                seconds = request.now_ms // 1000
                return _ok({"timeSecond": str(seconds), "timeNano": str(request.now_ms * 1_000_000)}, request.now_ms)
            if request.path == "/v5/market/instruments-info":
                return self._instruments_answer(request)
            if request.path in KLINES:
                return self._kline(request)
            if request.path == bybit_linear.FUNDING_HISTORY:
                return self._funding(request)
            if request.path == bybit_linear.OPEN_INTEREST:
                return self._open_interest(request)
        except BadParameter as exc:
            return _envelope(200, code=10001, message=str(exc), result={}, now_ms=request.now_ms)
        return self.error(404, f"unknown path {request.path}")

    def is_data(self, request: Request) -> bool:
        return request.path in KLINES or request.path in (bybit_linear.FUNDING_HISTORY, bybit_linear.OPEN_INTEREST)

    def error(self, status: int, message: str) -> Response:
        if status in (403, 418):  # Bybit has no 418: its IP ban (and its country block) is this 403
            return Response(status=403, body=BAN_BODY, headers={"Content-Type": "text/plain"})
        if status >= 500:  # Bybit's own errors are 200s; a 5xx is its gateway speaking
            title = f"{status} {responses.get(status, 'Error')}"
            page = f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center></body></html>"
            return Response(status=status, body=page.encode(), headers={"Content-Type": "text/html"})
        code, text = (10006, "Too many visits!") if status == 429 else (10001, message)
        return _envelope(status, code=code, message=text, result={}, now_ms=time.time_ns() // 1_000_000)

    def empty(self) -> Response:
        return _ok({"category": "spot", "symbol": "", "list": []}, time.time_ns() // 1_000_000)

    def usage_headers(self, request: Request) -> dict[str, str]:
        window = request.now_ms // QUOTA_WINDOW_MS
        with self._quota_lock:
            if window != self._quota_window:
                self._quota_window, self._quota_used = window, 0
            self._quota_used += 1
            used = self._quota_used
        return {
            "X-Bapi-Limit": str(QUOTA),
            "X-Bapi-Limit-Status": str(max(QUOTA - used, 0)),
            "X-Bapi-Limit-Reset-Timestamp": str((window + 1) * QUOTA_WINDOW_MS),
        }

    def _instruments_answer(self, request: Request) -> Response:
        category = request.query.get("category")
        if category not in CATEGORIES:
            raise BadParameter("Illegal category")
        if category == "spot":
            return _ok({"category": "spot", "list": self._instruments}, request.now_ms)
        if category == "linear" and request.query.get("status", "Trading") == "Trading":
            page = bybit_linear.instruments(tuple(self._linear.values()), cursor=request.query.get("cursor"),
                                            limit=_bounded(request.query, "limit", bybit_linear.INSTRUMENTS_LIMIT),
                                            now_ms=request.now_ms)
            return _ok(page, request.now_ms)
        return _ok({"category": category, "list": [], "nextPageCursor": ""}, request.now_ms)  # no others here

    def _kline(self, request: Request) -> Response:
        query, kind = request.query, KLINES[request.path]
        category = query.get("category", "linear")  # Bybit's default category
        symbol = self._symbol(query, categories=("spot", "linear") if kind == "trade" else ("linear",))
        interval_ms = INTERVALS_MS.get(query.get("interval", ""))
        if interval_ms is None:
            raise BadParameter("Invalid period!")
        limit = _bounded(query, "limit", (1, MAX_LIMIT, DEFAULT_LIMIT))
        start, end = _integer(query, "start"), _integer(query, "end")
        start = None if start is None else start // interval_ms * interval_ms  # the candle containing it
        page = self.store.page(symbol, timeframe_ms=interval_ms, start_ms=start if end is None else None, end_ms=end,
                               limit=limit, now_ms=request.now_ms, series=kind)
        frame = page.frame if start is None or end is None else page.frame.filter(pl.col("open_ms") >= start)
        body = b"".join([
            b'{"retCode":0,"retMsg":"OK","result":{"category":"', category.encode(), b'","symbol":"',
            query["symbol"].encode(), b'","list":', _kline_rows(frame, volumes=kind == "trade"),
            b'},"retExtInfo":{},"time":', str(request.now_ms).encode(), b"}",
        ])
        return Response(status=200, body=body, cacheable=page.final)

    def _symbol(self, query: dict[str, str], *, categories: tuple[str, ...]) -> str:
        """The symbol a market-data request names in its category; BadParameter as Bybit refuses it."""
        category = query.get("category", "linear")
        if category not in CATEGORIES:
            raise BadParameter("Illegal category")
        if not query.get("symbol"):
            raise BadParameter("params error: symbol is required")
        known = {"spot": self._by_id, "linear": self._linear}.get(category) if category in categories else None
        symbol = (known or {}).get(query["symbol"])
        if symbol is None:
            raise BadParameter("Not supported symbols")
        return symbol

    def _funding(self, request: Request) -> Response:
        query = request.query
        symbol = self._symbol(query, categories=("linear",))
        limit = _bounded(query, "limit", bybit_linear.FUNDING_LIMIT)
        start, end = _integer(query, "startTime"), _integer(query, "endTime")
        if start is not None and end is None:
            raise BadParameter("params error: startTime needs endTime")
        result = bybit_linear.funding_history(self.store, symbol, start=start, end=end, limit=limit,
                                              now_ms=request.now_ms)
        return _raw_ok(result, request.now_ms)

    def _open_interest(self, request: Request) -> Response:
        query = request.query
        symbol = self._symbol(query, categories=("linear",))
        interval = query.get("intervalTime", "")
        if interval not in bybit_linear.INTERVAL_TIMES_MS:
            raise BadParameter("params error: intervalTime invalid")
        limit = _bounded(query, "limit", bybit_linear.OPEN_INTEREST_LIMIT)
        result = bybit_linear.open_interest(self.store, symbol, interval=interval, start=_integer(query, "startTime"),
                                            end=_integer(query, "endTime"), cursor=query.get("cursor"), limit=limit,
                                            now_ms=request.now_ms)
        return _raw_ok(result, request.now_ms)

    def _instrument(self, symbol: str) -> dict:
        base, quote = symbol.split("/")
        decimals = self.store.price_decimals(symbol)
        return {
            "symbol": base + quote,
            "baseCoin": base,
            "quoteCoin": quote,
            "innovation": "0",
            "status": "Trading",
            "marginTrading": "utaOnly",
            "stTag": "0",
            "lotSizeFilter": {
                "basePrecision": "0.00001",
                "quotePrecision": "0.00000001",
                "minOrderQty": "0.00001",
                "maxOrderQty": "9000",
                "minOrderAmt": "5",
                "maxOrderAmt": "2000000",
            },
            "priceFilter": {"tickSize": f"{10.0**-decimals:.{decimals}f}"},
            "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.05"},
        }


def _kline_rows(frame: pl.DataFrame, *, volumes: bool) -> bytes:
    """Bybit's rows, newest first: start, OHLC and, for trade klines, base volume and turnover (quote volume)."""
    frame = frame.reverse()
    open_, high, low, close, volume = (frame[c].to_numpy() for c in ("open", "high", "low", "close", "volume"))
    prices = [b'["', frame["open_ms"].to_numpy(), b'","', open_, b'","', high, b'","', low, b'","', close]
    if not volumes:
        return json_rows([*prices, b'"]'])
    turnover = np.round(volume * (high + low + close) / 3, 4)
    return json_rows([*prices, b'","', volume, b'","', turnover, b'"]'])


def _ok(result: dict, now_ms: int) -> Response:
    return _envelope(200, code=0, message="OK", result=result, now_ms=now_ms)


def _envelope(status: int, *, code: int, message: str, result: dict, now_ms: int) -> Response:
    return json_response(
        status, {"retCode": code, "retMsg": message, "result": result, "retExtInfo": {}, "time": now_ms}
    )


def _raw_ok(result: bytes, now_ms: int) -> Response:
    """A success envelope around an already encoded `result`."""
    return Response(status=200, body=b'{"retCode":0,"retMsg":"OK","result":' + result + b',"retExtInfo":{},"time":'
                    + str(now_ms).encode() + b"}")


def _bounded(query: dict[str, str], name: str, bounds: tuple[int, int, int]) -> int:
    """An integer parameter within [low, high] (`default` when absent); BadParameter outside, as Bybit answers."""
    low, high, default = bounds
    value = _integer(query, name)
    value = default if value is None else value
    if not low <= value <= high:
        raise BadParameter(f"params error: {name} must be in [{low}, {high}]")
    return value


def _integer(query: dict[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None:
        return None
    if not _INTEGER.match(value) or int(value) >= 2**63:
        raise BadParameter(f"params error: {name} invalid")
    return int(value)
