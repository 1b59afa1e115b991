"""The OKX v5 REST dialect, spot and perpetual swaps, as far as ccxt's `load_markets` and `fetch_ohlcv` exercise it.

OKX pages candles backwards from a cursor: `after` (exclusive) is where a page ends, `before` (exclusive) only cuts
it off, and a page holds the newest `limit` candles in between, newest first. `/market/candles` serves just the
latest 1440 candles, `/market/history-candles` everything, both up to 300 a request (ccxt 4.5's `okx.fetchOHLCV`,
ts/src/okx.ts: "default 100, max 300, only 100 if 'mark' or 'index'", for either endpoint); an oversized limit is
quietly capped, as OKX does. Errors are `{"code", "msg", "data": []}` with OKX's codes; a wrong instrument is a
HTTP 200 answer with code 51001. Bars of 6 hours and more exist only in their UTC variants (`1Dutc`, which ccxt asks
for by default): OKX's plain `1D` opens at Hong Kong midnight, which the shared candle store does not model.

Swaps (`okx_swap.py` has their instruments, funding and open interest): `/market/candles` and `history-candles`
serve a swap's trade candles by its instId (`BTC-USDT-SWAP`), as nine strings whose volumes are contracts, coin
(the one ccxt reads for a swap) and quote. `mark-price-candles` (by swap instId) and `index-candles` (by index,
`BTC-USDT`, the swap's `instFamily`), each with a `history-` twin, serve six strings `[ts,o,h,l,c,confirm]` and at
most 100 a request (docs-v5 #public-data-rest-api-get-mark-price-candlesticks and -get-index-candlesticks: "The
maximum is 100"; ccxt: "only 100 if 'mark' or 'index'"); the recent ones, like `candles`, only "the latest 1,440 data
entries", the history ones "from recent years" (all of it here). Rate limits per 2 s: 20 for mark and index candles
and history-mark, 10 for history-index, funding history and open interest, so they weigh 2 and 4 of the 40; 20 for
the current funding rate (docs-v5 "Get funding rate": "Rate Limit: 20 requests per 2 seconds"), weighing 2.
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl

from datafactory_assets.emulator import okx_swap
from datafactory_assets.emulator.candles import listed_since_ms
from datafactory_assets.emulator.encode import json_rows
from datafactory_assets.emulator.perp_series import perpetual_of
from datafactory_assets.emulator.venue import RateBudget, Request, Response, Venue, json_response

BARS_MS = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1H": 3_600_000,
    "2H": 7_200_000,
    "4H": 14_400_000,
    "6Hutc": 21_600_000,
    "12Hutc": 43_200_000,
    "1Dutc": 86_400_000,
}
CANDLES, HISTORY_CANDLES = "/api/v5/market/candles", "/api/v5/market/history-candles"
MARK_CANDLES, HISTORY_MARK_CANDLES = "/api/v5/market/mark-price-candles", "/api/v5/market/history-mark-price-candles"
INDEX_CANDLES, HISTORY_INDEX_CANDLES = "/api/v5/market/index-candles", "/api/v5/market/history-index-candles"
INSTRUMENTS = "/api/v5/public/instruments"
MAX_LIMIT = {CANDLES: 300, HISTORY_CANDLES: 300, MARK_CANDLES: 100, HISTORY_MARK_CANDLES: 100, INDEX_CANDLES: 100,
             HISTORY_INDEX_CANDLES: 100}
KINDS = {MARK_CANDLES: "mark", HISTORY_MARK_CANDLES: "mark", INDEX_CANDLES: "index", HISTORY_INDEX_CANDLES: "index"}
RECENT = (CANDLES, MARK_CANDLES, INDEX_CANDLES)
DEFAULT_LIMIT = 100
RECENT_DEPTH = 1440  # candles served by /market/candles, the still-open one included
INSTRUMENT_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION")
_ERROR_CODES = {400: "51000", 429: "50011", 500: "50026", 503: "50001"}
_ERROR_MESSAGES = {"50011": "Too Many Requests", "50026": "System error, please try again later.",
                   "50001": "Service temporarily unavailable, please try again later."}
_INTEGER = re.compile(r"^[0-9]{1,19}$")


class OkxError(Exception):
    """A request OKX refuses: its code, and the HTTP status OKX sends with it."""

    def __init__(self, code: str, message: str, *, status: int = 400):
        super().__init__(message)
        self.code, self.status = code, status


class OkxVenue(Venue):
    """`/api/v5/public/time` and `/instruments`; spot and swap candles, swap mark and index candles, the current
    funding rate, funding-rate and open-interest history."""

    id = "okx"
    # Per IP: 40 recent-candle requests per 2 s, 20 or 10 for the others (so they weigh 2 or 4); OKX never bans.
    rate_budget = RateBudget(40, window_s=2, weights={
        HISTORY_CANDLES: 2, INSTRUMENTS: 2, MARK_CANDLES: 2, HISTORY_MARK_CANDLES: 2, INDEX_CANDLES: 2,
        HISTORY_INDEX_CANDLES: 4, okx_swap.FUNDING_HISTORY: 4, okx_swap.FUNDING_RATE: 2,
        okx_swap.OPEN_INTEREST_HISTORY: 4})

    def __init__(self, store):
        super().__init__(store)
        swaps = tuple(perpetual_of(symbol) for symbol in store.symbols if symbol.endswith("/USDT"))
        self._by_id = {symbol.replace("/", "-"): symbol for symbol in store.symbols}
        self._swaps = {okx_swap.swap_id(symbol): symbol for symbol in swaps}
        self._indexes = {okx_swap.family(symbol): symbol for symbol in swaps}
        self._instruments = {
            "SPOT": [self._instrument(symbol, code) for code, symbol in enumerate(store.symbols, start=1)],
            "SWAP": [okx_swap.instrument(symbol, code=code) for code, symbol in enumerate(swaps, start=10_001)],
        }

    def respond(self, request: Request) -> Response:
        if request.method != "GET":
            return self.error(405, f"{request.method} is not supported on {request.path}")
        try:
            if request.path == "/api/v5/public/time":
                return _ok([{"ts": str(request.now_ms)}])
            if request.path == INSTRUMENTS:
                return self._instruments_answer(request.query)
            if request.path in MAX_LIMIT:
                return self._candles(request)
            if request.path == okx_swap.FUNDING_HISTORY:
                return self._funding(request)
            if request.path == okx_swap.FUNDING_RATE:
                return okx_swap.funding_rate(self.store, self._swap(request.query), now_ms=request.now_ms)
            if request.path == okx_swap.OPEN_INTEREST_HISTORY:
                return self._open_interest(request)
        except OkxError as exc:
            return _error_json(exc.status, code=exc.code, message=str(exc))
        return self.error(404, f"unknown path {request.path}")

    def is_data(self, request: Request) -> bool:
        return request.path in MAX_LIMIT or request.path in (okx_swap.FUNDING_HISTORY, okx_swap.OPEN_INTEREST_HISTORY)

    def error(self, status: int, message: str) -> Response:
        code = _ERROR_CODES.get(status, "51000" if status < 500 else "50013")
        return _error_json(status, code=code, message=_ERROR_MESSAGES.get(code, message))

    def empty(self) -> Response:
        return _ok([])

    def _instruments_answer(self, query: dict[str, str]) -> Response:
        kind = _required(query, "instType")
        if kind not in INSTRUMENT_TYPES:
            raise OkxError("51000", "Parameter instType error")
        return _ok(self._instruments.get(kind, []))  # no futures or options here

    def _candles(self, request: Request) -> Response:
        query, kind = request.query, KINDS.get(request.path, "trade")
        inst_id = _required(query, "instId")
        known = {"trade": {**self._by_id, **self._swaps}, "mark": self._swaps, "index": self._indexes}[kind]
        symbol = known.get(inst_id)
        if symbol is None:
            raise OkxError("51001", "Instrument ID does not exist", status=200)
        bar_ms = BARS_MS.get(query.get("bar", "1m"))
        if bar_ms is None:
            raise OkxError("51000", "Parameter bar error")
        limit = _limit(query, maximum=MAX_LIMIT[request.path])
        after, before = _integer(query, "after"), _integer(query, "before")
        page = self.store.page(symbol, timeframe_ms=bar_ms, start_ms=None, end_ms=None if after is None else after - 1,
                               limit=limit, now_ms=request.now_ms, series=kind)
        oldest = -1 if before is None else before
        recent = request.path in RECENT
        if recent:  # the recent endpoints forget candles as they age past their depth
            oldest = max(oldest, (request.now_ms // bar_ms - RECENT_DEPTH) * bar_ms)
        frame = page.frame.filter(pl.col("open_ms") > oldest)
        if kind != "trade":
            rows = _price_rows(frame, bar_ms=bar_ms, now_ms=request.now_ms)
        else:
            rows = _candle_rows(frame, bar_ms=bar_ms, now_ms=request.now_ms,
                                contract=okx_swap.contract_value(symbol) if inst_id in self._swaps else None)
        body = b'{"code":"0","msg":"","data":' + rows + b"}"
        return Response(status=200, body=body, cacheable=page.final and not recent)

    def _swap(self, query: dict[str, str]) -> str:
        symbol = self._swaps.get(_required(query, "instId"))
        if symbol is None:
            raise OkxError("51001", "Instrument ID does not exist", status=200)
        return symbol

    def _funding(self, request: Request) -> Response:
        query = request.query
        return okx_swap.funding_history(self.store, self._swap(query), before=_integer(query, "before"),
                                        after=_integer(query, "after"),
                                        limit=_limit(query, maximum=okx_swap.MAX_LIMIT), now_ms=request.now_ms)

    def _open_interest(self, request: Request) -> Response:
        query = request.query
        symbol = self._swap(query)
        period = query.get("period", "5m")
        if period not in okx_swap.OI_PERIODS_MS:
            raise OkxError("51000", "Parameter period error")
        return okx_swap.open_interest_history(self.store, symbol, period=period, begin=_integer(query, "begin"),
                                              end=_integer(query, "end"),
                                              limit=_limit(query, maximum=okx_swap.MAX_LIMIT), now_ms=request.now_ms)

    def _instrument(self, symbol: str, code: int) -> dict:
        base, quote = symbol.split("/")
        decimals = self.store.price_decimals(symbol)
        return {
            "alias": "", "auctionEndTime": "", "baseCcy": base, "category": "1", "ctMult": "", "ctType": "",
            "ctVal": "", "ctValCcy": "", "expTime": "", "instFamily": "", "instId": f"{base}-{quote}",
            "instIdCode": code, "instType": "SPOT", "lever": "10", "listTime": str(listed_since_ms(symbol)),
            "lotSz": "0.00001", "maxIcebergSz": "9999999999", "maxLmtAmt": "20000000", "maxLmtSz": "9999999999",
            "maxMktAmt": "1000000", "maxMktSz": "1000000", "maxStopSz": "1000000", "maxTriggerSz": "9999999999",
            "maxTwapSz": "9999999999", "minSz": "0.00001", "optType": "", "quoteCcy": quote, "ruleType": "normal",
            "settleCcy": "", "state": "live", "stk": "", "tickSz": f"{10.0**-decimals:.{decimals}f}",
            "tradeQuoteCcyList": [quote], "uly": "",
        }


def _candle_rows(frame: pl.DataFrame, *, bar_ms: int, now_ms: int, contract: float | None) -> bytes:
    """OKX's nine-string rows, newest first: ts, OHLC, three volumes, confirm. Spot: base, quote, quote; a swap
    (`contract` coins each): contracts, base, quote."""
    frame = frame.reverse()
    open_ms = frame["open_ms"].to_numpy()
    open_, high, low, close, volume = (frame[c].to_numpy() for c in ("open", "high", "low", "close", "volume"))
    quote_volume = np.round(volume * (open_ + close) / 2, 4)
    first, second = (volume, quote_volume) if contract is None else (np.round(volume / contract, 8), volume)
    confirmed = (open_ms + bar_ms <= now_ms).astype(np.int64)
    return json_rows([
        b'["', open_ms, b'","', open_, b'","', high, b'","', low, b'","', close, b'","', first, b'","',
        second, b'","', quote_volume, b'","', confirmed, b'"]',
    ])


def _price_rows(frame: pl.DataFrame, *, bar_ms: int, now_ms: int) -> bytes:
    """Mark and index candles: six strings newest first, ts, OHLC, confirm (they have no volume)."""
    frame = frame.reverse()
    open_ms = frame["open_ms"].to_numpy()
    confirmed = (open_ms + bar_ms <= now_ms).astype(np.int64)
    return json_rows([
        b'["', open_ms, b'","', frame["open"].to_numpy(), b'","', frame["high"].to_numpy(), b'","',
        frame["low"].to_numpy(), b'","', frame["close"].to_numpy(), b'","', confirmed, b'"]',
    ])


def _ok(data: list) -> Response:
    return json_response(200, {"code": "0", "msg": "", "data": data})


def _error_json(status: int, *, code: str, message: str) -> Response:
    return json_response(status, {"code": code, "msg": message, "data": []})


def _required(query: dict[str, str], name: str) -> str:
    value = query.get(name)
    if not value:
        raise OkxError("50014", f"Parameter {name} can not be empty")
    return value


def _limit(query: dict[str, str], *, maximum: int) -> int:
    """The page size: default 100, an oversized one quietly capped to `maximum`, zero refused."""
    limit = _integer(query, "limit")
    if limit == 0:
        raise OkxError("51000", "Parameter limit error")
    return min(DEFAULT_LIMIT if limit is None else limit, maximum)


def _integer(query: dict[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None:
        return None
    if not _INTEGER.match(value) or int(value) >= 2**63:
        raise OkxError("51000", f"Parameter {name} error")
    return int(value)
