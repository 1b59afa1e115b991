"""The Kraken spot REST dialect, as far as ccxt's `load_markets` and `fetch_ohlcv` exercise it.

Kraken keeps no deep candle history: `/0/public/OHLC` answers at most 720 rows of an interval, oldest first, and the
last of them is the still-open candle, so only 719 committed candles come, whatever `since` asks for (Kraken's
"Get OHLC Data" reference, docs.kraken.com/api-reference/market-data/get-ohlc-data: "Returns up to 720 of the most
recent entries" and "The last entry in the OHLC array is for the current, not-yet-committed timeframe, and will
always be present, regardless of the value of `since`"). `since` is in seconds and exclusive
(rows opening strictly after it) and only trims the front; the still-open candle is always there. A client asking
for an older window therefore gets recent candles instead of an error and must notice that itself. Errors are HTTP
200 bodies such as `{"error":["EQuery:Unknown asset pair"]}` (the status faults keep their HTTP status). Assets keep
Kraken's legacy names: BTC is `XBT` (asset id `XXBT`), DOGE is `XDG`, and pairs between two legacy assets are keyed
by their ids (`XETHXXBT`) while the others are keyed by their altname (`XBTUSDT`).
"""

from __future__ import annotations

import re
from email.utils import formatdate

import numpy as np

from datafactory_assets.emulator.candles import base_price
from datafactory_assets.emulator.encode import json_rows
from datafactory_assets.emulator.venue import RateBudget, Request, Response, Venue, json_response

INTERVALS_MIN = frozenset({"1", "5", "15", "30", "60", "240", "1440", "10080", "21600"})
WINDOW = 720  # rows served per interval, the still-open one included: 719 committed candles
_CLASSIC = frozenset({"XBT", "ETH", "XRP", "LTC", "XLM", "ETC", "MLN", "REP", "ZEC", "XMR"})
_FIAT = frozenset({"USD", "EUR", "GBP", "CAD", "JPY"})
_ALTNAMES = {"BTC": "XBT", "DOGE": "XDG"}
_DECIMALS = {"XBT": 10, "ETH": 10, "SOL": 10}
_TAKER_FEES = [[0, 0.4], [10000, 0.35], [50000, 0.24], [100000, 0.22], [250000, 0.2], [500000, 0.18],
               [1000000, 0.16], [2500000, 0.14], [5000000, 0.12], [10000000, 0.1]]
_MAKER_FEES = [[0, 0.25], [10000, 0.2], [50000, 0.14], [100000, 0.12], [250000, 0.1], [500000, 0.08],
               [1000000, 0.06], [2500000, 0.04], [5000000, 0.02], [10000000, 0.0]]
_ERRORS = {400: "EGeneral:Invalid arguments", 401: "EAPI:Invalid key", 403: "EGeneral:Permission denied",
           404: "EGeneral:Unknown method", 429: "EGeneral:Too many requests", 500: "EGeneral:Internal error",
           503: "EService:Unavailable", 504: "EService:Busy"}
_INTEGER = re.compile(r"^-?[0-9]{1,18}$")


def altname(code: str) -> str:
    """Kraken's name for a canonical code: `BTC` -> `XBT`, `DOGE` -> `XDG`, others unchanged."""
    return _ALTNAMES.get(code, code)


def asset_id(code: str) -> str:
    """Kraken's asset id for a canonical code: `BTC` -> `XXBT`, `USD` -> `ZUSD`, `SOL` -> `SOL`."""
    alt = altname(code)
    if alt in _FIAT:
        return "Z" + alt
    return "X" + alt if alt in _CLASSIC or alt == "XDG" else alt


def pair_key(symbol: str) -> str:
    """The AssetPairs key ccxt uses as market id: `ETH/BTC` -> `XETHXXBT`, `BTC/USDT` -> `XBTUSDT`."""
    base, quote = symbol.split("/")
    if {altname(base), altname(quote)} <= _CLASSIC | _FIAT:
        return asset_id(base) + asset_id(quote)
    return altname(base) + altname(quote)


class KrakenVenue(Venue):
    """`/0/public/Time`, `/0/public/Assets`, `/0/public/AssetPairs` and `/0/public/OHLC`."""

    id = "kraken"
    rate_budget = RateBudget(1, window_s=1.0)  # public: 1 call a second per IP (OHLC also per pair; one budget here)

    def __init__(self, store):
        super().__init__(store)
        self._pairs = {pair_key(symbol): self._pair(symbol) for symbol in store.symbols}
        self._by_name: dict[str, tuple[str, str]] = {}  # the key or the altname -> (key, symbol), as Kraken accepts
        for symbol in store.symbols:
            key = pair_key(symbol)
            self._by_name[key] = self._by_name[self._pairs[key]["altname"]] = (key, symbol)
        codes = dict.fromkeys(code for symbol in store.symbols for code in symbol.split("/"))
        self._assets = {asset_id(code): _asset(code) for code in codes}

    def respond(self, request: Request) -> Response:
        if request.method != "GET":
            return self.error(405, f"{request.method} is not supported")
        if request.path == "/0/public/OHLC":
            return self._ohlc(request)
        if request.path == "/0/public/AssetPairs":
            return _result(self._pairs)
        if request.path == "/0/public/Assets":
            return _result(self._assets)
        if request.path == "/0/public/Time":
            seconds = request.now_ms // 1000
            return _result({"unixtime": seconds, "rfc1123": formatdate(seconds, usegmt=True)})
        return self.error(404, f"unknown path {request.path}")

    def is_data(self, request: Request) -> bool:
        return request.path == "/0/public/OHLC"

    def error(self, status: int, message: str) -> Response:
        """Kraken names the error, never explains it: `message` has no place in the body."""
        return json_response(status, {"error": [_ERRORS.get(status, _ERRORS[400 if status < 500 else 503])]})

    def empty(self) -> Response:
        return json_response(200, {"error": [], "result": {}})

    def _ohlc(self, request: Request) -> Response:
        query = request.query
        named = self._by_name.get(query.get("pair", ""))
        if named is None:
            return _refusal("EQuery:Unknown asset pair" if query.get("pair") else "EGeneral:Invalid arguments")
        interval, since = query.get("interval", "1"), query.get("since")
        if interval not in INTERVALS_MIN or (since is not None and not _INTEGER.match(since)):
            return _refusal("EGeneral:Invalid arguments")
        key, symbol = named
        timeframe_ms = int(interval) * 60_000
        current_open = request.now_ms // timeframe_ms * timeframe_ms
        first = current_open - (WINDOW - 1) * timeframe_ms
        if since is not None:
            first = max(first, min((int(since) + 1) * 1000, current_open))
        page = self.store.page(symbol, timeframe_ms=timeframe_ms, start_ms=first, end_ms=None, limit=WINDOW,
                               now_ms=request.now_ms)
        rows = _ohlc_rows(page.frame, decimals=self.store.price_decimals(symbol))
        last = (current_open - timeframe_ms) // 1000
        return Response(status=200, body=b'{"error":[],"result":{"%s":%s,"last":%d}}' % (key.encode(), rows, last))

    def _pair(self, symbol: str) -> dict:
        base, quote = symbol.split("/")
        decimals = self.store.price_decimals(symbol)
        return {
            "altname": altname(base) + altname(quote),
            "wsname": f"{altname(base)}/{altname(quote)}",
            "aclass_base": "currency",
            "base": asset_id(base),
            "aclass_quote": "currency",
            "quote": asset_id(quote),
            "lot": "unit",
            "cost_decimals": 5,
            "pair_decimals": decimals,
            "lot_decimals": 8,
            "lot_multiplier": 1,
            "leverage_buy": [],
            "leverage_sell": [],
            "fees": _TAKER_FEES,
            "fees_maker": _MAKER_FEES,
            "fee_volume_currency": "ZUSD",
            "margin_call": 80,
            "margin_stop": 40,
            "ordermin": f"{5 / base_price(symbol):.8f}".rstrip("0").rstrip("."),
            "costmin": "0.5",
            "tick_size": f"{10.0**-decimals:.{decimals}f}",
            "status": "online",
        }


def _asset(code: str) -> dict:
    alt = altname(code)
    fiat = alt in _FIAT
    return {"aclass": "currency", "altname": alt, "decimals": 4 if fiat else _DECIMALS.get(alt, 8),
            "display_decimals": 2 if fiat else 5, "status": "enabled"}


def _result(result) -> Response:
    return json_response(200, {"error": [], "result": result})


def _refusal(error: str) -> Response:
    """Kraken refuses a request with HTTP 200 and the error named in the body."""
    return json_response(200, {"error": [error]})


def _ohlc_rows(frame, *, decimals: int) -> bytes:
    """Kraken's 8-field rows: time in seconds, prices and volume as strings, the trade count as a number.

    vwap and count are not stored, so they are derived from the candle (vwap from the typical price, one trade per
    ~500 of quote traded), which keeps replays verbatim in the fields ccxt reads.
    """
    seconds = frame["open_ms"].to_numpy() // 1000
    open_, high, low, close, volume = (frame[c].to_numpy() for c in ("open", "high", "low", "close", "volume"))
    vwap = np.round((high + low + close) / 3, decimals)
    count = np.rint(volume * close / 500).astype(np.int64) + 1
    return json_rows([
        b"[", seconds, b',"', open_, b'","', high, b'","', low, b'","', close, b'","', vwap, b'","', volume, b'",',
        count, b"]",
    ])
