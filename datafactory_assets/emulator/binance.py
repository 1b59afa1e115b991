"""The Binance spot REST dialect, as far as ccxt's `load_markets`, `fetch_tickers` and `fetch_ohlcv` exercise it.

Semantics follow the real API: `startTime` and `endTime` are inclusive bounds on the open time, a request without
`startTime` gets the newest `limit` candles, the still-open candle is served, errors are `{"code", "msg"}` JSON with
Binance's codes, and every answer carries the `X-MBX-USED-WEIGHT-1M` counter.

A 403 is not Binance's API speaking but its firewall: "HTTP 403 return code is used when a WAF (Web Application
Firewall) rule has been violated. This can indicate a rate limit violation or a security block." (Spot API docs, HTTP
Return Codes, developers.binance.com/docs/binance-spot-api-docs/rest-api/http-return-codes). The firewall answers
before the API, so its body is an HTML page, not `{"code", "msg"}` (the page here is a stand-in: the docs do not
show one); ccxt finds no JSON in it and raises ExchangeNotAvailable from its generic HTTP 403 mapping.

A pair's klines begin at its listing (`candles.listed_since_ms`). Klines "are uniquely identified by their open
time" and a `startTime` without `endTime` answers the oldest `limit` klines opening at or after it (Spot API docs,
Market data endpoints, Kline/Candlestick data, developers.binance.com/docs/binance-spot-api-docs/rest-api/
market-data-endpoints#klinecandlestick-data: "If startTime and endTime are not sent, the most recent klines are
returned"), so `limit=1` from before a pair's listing answers its first kline: how the platform dates a listing.

The market is the store's listing (by default a realistic one, `listing.binance_market`: a few hundred USDT pairs,
some not trading), each pair with klines.
`/api/v3/ticker/24hr` follows Binance's "24hr ticker price change statistics" (FULL type: `symbol`, `priceChange`,
`priceChangePercent`, `weightedAvgPrice`, `prevClosePrice`, `lastPrice`, `lastQty`, `bidPrice`, `bidQty`,
`askPrice`, `askQty`, `openPrice`, `highPrice`, `lowPrice`, `volume`, `quoteVolume`, `openTime`, `closeTime`,
`firstId`, `lastId`, `count`; one object for `symbol=`, an array for `symbols=[...]` or for every pair without either;
weight 2 for one symbol, 80 for all: https://developers.binance.com/docs/binance-spot-api-docs/rest-api/
market-data-endpoints#24hr-ticker-price-change-statistics, and ccxt's binance.ts `ticker/24hr` cost 2 / noSymbol 80).
"""

from __future__ import annotations

import json
import re
import threading
from abc import abstractmethod
from collections.abc import Callable

import numpy as np

from datafactory_assets.emulator.candles import synthetic_candles
from datafactory_assets.emulator.encode import json_rows
from datafactory_assets.emulator.listing import Listed
from datafactory_assets.emulator.venue import RateBudget, Request, Response, Venue, json_response

INTERVALS_MS = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
}
DEFAULT_LIMIT, MAX_LIMIT = 500, 1000
WEIGHT_LIMIT_1M = 6000
_WEIGHTS = {"/api/v3/exchangeInfo": 20, "/api/v3/klines": 2, "/api/v3/ticker/24hr": 80}  # 24hr: all pairs
WAF_PAGE = (b"<html><head><title>403 Forbidden</title></head><body><h1>403 Forbidden</h1>"
            b"<p>Request blocked by the web application firewall.</p></body></html>")
_ERROR_CODES = {400: -1100, 404: -1000, 418: -1003, 429: -1003}
_INTEGER = re.compile(r"^-?[0-9]{1,20}$")
_ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"]
_STP_MODES = ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT"]
_RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": WEIGHT_LIMIT_1M},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]
_DAY_MS, _HOUR_MS = 86_400_000, 3_600_000


class BadParameter(Exception):
    """A request parameter Binance would refuse; carries Binance's error code."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


class BinanceDialect(Venue):
    """What Binance's REST APIs share: `ping` and `time`, `{"code", "msg"}` errors with Binance's codes, the
    firewall's HTML 403, and the `X-MBX-USED-WEIGHT-1M` counter of the weight used in the current minute (`weight`
    per request)."""

    def __init__(self, store):
        super().__init__(store)
        self._weight_lock = threading.Lock()
        self._weight_minute, self._weight_used = 0, 0

    api = "/api/v3"  # the prefix of `ping` and `time`

    @abstractmethod
    def endpoints(self) -> dict[str, Callable[[Request], Response]]:
        """Path -> its answer; an answer raises `BadParameter` for a request Binance would refuse."""

    def respond(self, request: Request) -> Response:
        if request.method != "GET":
            return self.error(405, f"{request.method} is not supported on {request.path}")
        if request.path == f"{self.api}/ping":
            return json_response(200, {})
        if request.path == f"{self.api}/time":
            return json_response(200, {"serverTime": request.now_ms})
        answer = self.endpoints().get(request.path)
        if answer is None:
            return self.error(404, f"unknown path {request.path}")
        try:
            return answer(request)
        except BadParameter as exc:
            return self.error_json(400, code=exc.code, message=str(exc))

    def weight(self, request: Request) -> int:
        """What `request` costs against the minute's weight."""
        return self.rate_budget.weights.get(request.path, 1)

    def error(self, status: int, message: str) -> Response:
        if status == 403:
            return Response(status=403, body=WAF_PAGE, headers={"Content-Type": "text/html"})
        code = _ERROR_CODES.get(status, -1000 if status < 500 else -1001)
        return self.error_json(status, code=code, message=message)

    def empty(self) -> Response:
        return json_response(200, [])

    def usage_headers(self, request: Request) -> dict[str, str]:
        minute = request.now_ms // 60_000
        with self._weight_lock:
            if minute != self._weight_minute:
                self._weight_minute, self._weight_used = minute, 0
            self._weight_used += self.weight(request)
            used = self._weight_used
        return {"X-MBX-USED-WEIGHT-1M": str(used)}

    @staticmethod
    def error_json(status: int, *, code: int, message: str) -> Response:
        return json_response(status, {"code": code, "msg": message})


class BinanceVenue(BinanceDialect):
    """`/api/v3/ping`, `/api/v3/time`, `/api/v3/exchangeInfo`, `/api/v3/ticker/24hr` and `/api/v3/klines`."""

    id = "binance"
    rate_budget = RateBudget(WEIGHT_LIMIT_1M, window_s=60, weights=_WEIGHTS, ban_s=120)  # bans escalate from 2 min

    def __init__(self, store):
        super().__init__(store)
        self._listing = {item.symbol.replace("/", ""): item for item in store.listing}
        self._by_id = {market_id: item.symbol for market_id, item in self._listing.items()}
        markets = [self._market(item) for item in self._listing.values()]
        self._exchange_info_tail = json.dumps({"rateLimits": _RATE_LIMITS, "exchangeFilters": [], "symbols": markets},
                                              separators=(",", ":"))[1:].encode()  # serialized once: ~500 pairs

    def endpoints(self) -> dict[str, Callable[[Request], Response]]:
        return {"/api/v3/exchangeInfo": self._exchange_info, "/api/v3/ticker/24hr": self._tickers,
                "/api/v3/klines": self._klines}

    def _exchange_info(self, request: Request) -> Response:
        body = b'{"timezone":"UTC","serverTime":%d,' % request.now_ms + self._exchange_info_tail
        return Response(status=200, body=body)

    def is_data(self, request: Request) -> bool:
        return request.path == "/api/v3/klines"

    def _klines(self, request: Request) -> Response:
        query = request.query
        symbol = self._by_id.get(required(query, "symbol"))
        if symbol is None:
            raise BadParameter(-1121, "Invalid symbol.")
        timeframe_ms = INTERVALS_MS.get(required(query, "interval"))
        if timeframe_ms is None:
            raise BadParameter(-1120, "Invalid interval.")
        page = self.store.page(
            symbol,
            timeframe_ms=timeframe_ms,
            start_ms=integer(query, "startTime"),
            end_ms=integer(query, "endTime"),
            limit=limit_of(query, default=DEFAULT_LIMIT, maximum=MAX_LIMIT),
            now_ms=request.now_ms,
        )
        return Response(status=200, body=kline_rows(page.frame, timeframe_ms), cacheable=page.final)

    def _tickers(self, request: Request) -> Response:
        """One object for `symbol`, an array for `symbols` (a JSON list of ids) or for every listed pair."""
        if "symbol" in request.query:
            item = self._listing.get(request.query["symbol"])
            if item is None:
                raise BadParameter(-1121, "Invalid symbol.")
            return json_response(200, _ticker(item, request.now_ms))
        if "symbols" in request.query:
            try:
                ids = json.loads(request.query["symbols"])
                items = [self._listing[market_id] for market_id in ids]
            except (ValueError, TypeError, KeyError) as exc:
                raise BadParameter(-1121, "Invalid symbol.") from exc
        else:
            items = list(self._listing.values())
        return json_response(200, [_ticker(item, request.now_ms) for item in items])

    def _market(self, item: Listed) -> dict:
        base, quote = item.symbol.split("/")
        decimals = self.store.price_decimals(item.symbol)
        tick = f"{10.0**-decimals:.8f}"
        return {
            "symbol": base + quote,
            "status": item.status,
            "baseAsset": base,
            "baseAssetPrecision": 8,
            "quoteAsset": quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": _ORDER_TYPES,
            "icebergAllowed": True,
            "ocoAllowed": True,
            "otoAllowed": True,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True,
            "cancelReplaceAllowed": True,
            "amendAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000.00000000", "tickSize": tick},
                {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
                {"filterType": "MIN_NOTIONAL", "minNotional": "5.00000000", "applyToMarket": True, "avgPriceMins": 5},
                {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "100.00000000",
                 "stepSize": "0.00000000"},
            ],
            "permissions": ["SPOT"],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": _STP_MODES,
        }


def _ticker(item: Listed, now_ms: int) -> dict:
    """24-hour statistics of one pair from its hourly candles; the quote volume is the listing's own, so the ranking
    by volume is the same on every call. A pair without trades has -1 trade ids, as Binance sends them."""
    hours = synthetic_candles(item.symbol, (now_ms - _DAY_MS) // _HOUR_MS * _HOUR_MS, now_ms, _HOUR_MS)
    first, last = float(hours["open"][0]), float(hours["close"][-1])
    trades = int(item.quote_volume // 1000)
    return {
        "symbol": item.symbol.replace("/", ""), "priceChange": _decimal(last - first),
        "priceChangePercent": f"{(last / first - 1) * 100:.3f}", "weightedAvgPrice": _decimal((first + last) / 2),
        "prevClosePrice": _decimal(first), "lastPrice": _decimal(last), "lastQty": "1.00000000",
        "bidPrice": _decimal(last), "bidQty": "1.00000000", "askPrice": _decimal(last), "askQty": "1.00000000",
        "openPrice": _decimal(first), "highPrice": _decimal(hours["high"].max()),
        "lowPrice": _decimal(hours["low"].min()), "volume": _decimal(item.quote_volume / ((first + last) / 2)),
        "quoteVolume": _decimal(item.quote_volume), "openTime": now_ms - _DAY_MS, "closeTime": now_ms,
        "firstId": 1 if trades else -1, "lastId": trades or -1, "count": trades,
    }


def _decimal(value: float) -> str:
    """Binance sends every price and quantity as a string with eight decimals."""
    return f"{value:.8f}"


def kline_fields(frame, timeframe_ms: int) -> dict[str, np.ndarray]:
    """The 11 meaningful fields of Binance's klines (the 12th is an ignored "0"), times in ms; the fields ccxt
    ignores are derived from the candle so that replays stay verbatim. The bulk archive serves the same fields."""
    open_ms = frame["open_ms"].to_numpy()
    open_, high, low, close, volume = (frame[c].to_numpy() for c in ("open", "high", "low", "close", "volume"))
    quote_volume = np.round(volume * (open_ + high + low + close) / 4, 4)
    taker_share = 0.35 + 0.3 * ((open_ms // timeframe_ms) % 7) / 6
    return {
        "open_time": open_ms, "open": open_, "high": high, "low": low, "close": close, "volume": volume,
        "close_time": open_ms + (timeframe_ms - 1), "quote_volume": quote_volume,
        "trades": np.fmod(np.abs(volume) * 1e5, 997).astype(np.int64) + 1,
        "taker_buy_base": np.round(volume * taker_share, 5), "taker_buy_quote": np.round(quote_volume * taker_share, 4),
    }


def kline_rows(frame, timeframe_ms: int) -> bytes:
    """Binance's 12-field rows as JSON, prices and volumes as strings."""
    f = kline_fields(frame, timeframe_ms)
    return json_rows([
        b"[", f["open_time"], b',"', f["open"], b'","', f["high"], b'","', f["low"], b'","', f["close"], b'","',
        f["volume"], b'",', f["close_time"], b',"', f["quote_volume"], b'",', f["trades"], b',"',
        f["taker_buy_base"], b'","', f["taker_buy_quote"], b'","0"]',
    ])


def required(query: dict[str, str], name: str) -> str:
    value = query.get(name)
    if not value:
        raise BadParameter(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
    return value


def limit_of(query: dict[str, str], *, default: int, maximum: int) -> int:
    """The request's `limit`, `default` when absent; Binance refuses one outside [1, maximum]."""
    limit = integer(query, "limit")
    limit = default if limit is None else limit
    if not 1 <= limit <= maximum:
        raise BadParameter(-1130, f"Data sent for parameter 'limit' is not valid (1 to {maximum}).")
    return limit


def integer(query: dict[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None:
        return None
    if not _INTEGER.match(value) or not -(2**63) <= int(value) < 2**63:
        raise BadParameter(
            -1100, f"Illegal characters found in parameter '{name}'; legal range is '^-?[0-9]{{1,20}}$'."
        )
    return int(value)
