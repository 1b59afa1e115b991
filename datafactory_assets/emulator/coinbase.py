"""The Coinbase Advanced Trade REST dialect (ccxt's `coinbase`), as far as `load_markets` and `fetch_ohlcv` use it.

Without an API key ccxt loads currencies from the v2 app API (`/v2/currencies`, `/v2/currencies/crypto`,
`/v2/exchange-rates`) and markets from the public `/api/v3/brokerage/market/products`, once plain (spot) and once
with `product_type=FUTURE` (nothing listed here). Candles come from `/api/v3/brokerage/market/products/{id}/candles`:
`start` and `end` in seconds, both inclusive, at most 350 candles a request (a range spanning more is refused with
400 INVALID_ARGUMENT, never trimmed), the newest `limit` of the range, newest first, every value a string.
Application errors are the gateway's `{"error", "error_details", "message"}` with gRPC code names; rate limiting
and gateway failures come from the edge as an HTML page, so ccxt maps those by HTTP status.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from datafactory_assets.emulator.candles import base_price
from datafactory_assets.emulator.encode import json_rows
from datafactory_assets.emulator.venue import RateBudget, Request, Response, Venue, json_response

GRANULARITY_S = {
    "ONE_MINUTE": 60,
    "FIVE_MINUTE": 300,
    "FIFTEEN_MINUTE": 900,
    "THIRTY_MINUTE": 1800,
    "ONE_HOUR": 3600,
    "TWO_HOUR": 7200,
    "FOUR_HOUR": 14400,
    "SIX_HOUR": 21600,
    "ONE_DAY": 86400,
}
MAX_CANDLES = 350
_CANDLES_PATH = re.compile(r"^/api/v3/brokerage/market/products/([^/]+)/candles$")
_FIAT = {"USD": "US Dollar", "EUR": "Euro", "GBP": "British Pound"}
_NAMES = {"BTC": "Bitcoin", "ETH": "Ethereum", "SOL": "Solana", "BNB": "BNB", "XRP": "XRP", "ADA": "Cardano",
          "DOGE": "Dogecoin", "USDT": "Tether", "USDC": "USDC"}
_GRPC_CODES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
               409: "ALREADY_EXISTS", 500: "INTERNAL", 501: "UNIMPLEMENTED"}
_EDGE_STATUSES = {429: "Too Many Requests", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
_INTEGER = re.compile(r"^-?[0-9]{1,18}$")
_RANGE_TOO_WIDE = f"start and end argument is invalid - number of candles requested should be less than {MAX_CANDLES}"


class BadArgument(Exception):
    """A request parameter the gateway refuses with 400 INVALID_ARGUMENT."""


class CoinbaseVenue(Venue):
    """`/v2/time`, the three v2 currency lists, `/api/v3/brokerage/market/products` and the public candles."""

    id = "coinbase"
    rate_budget = RateBudget(10, window_s=1.0)  # public Advanced Trade endpoints: 10 requests a second per IP

    def __init__(self, store):
        super().__init__(store)
        self._by_id = {symbol.replace("/", "-"): symbol for symbol in store.symbols}
        self._products = [self._product(symbol) for symbol in store.symbols]
        codes = dict.fromkeys(code for symbol in store.symbols for code in symbol.split("/"))
        self._crypto = [_crypto_currency(code) for code in codes if code not in _FIAT]
        self._rates = {"USD": "1", **{code: _usd_rate(code) for code in codes if code != "USD"}}

    def respond(self, request: Request) -> Response:
        if request.method != "GET":
            return self.error(405, f"{request.method} is not supported on {request.path}")
        candles = _CANDLES_PATH.match(request.path)
        if candles:
            try:
                return self._candles(request, product_id=candles.group(1))
            except BadArgument as exc:
                return self.error(400, str(exc))
        if request.path == "/api/v3/brokerage/market/products":
            spot = request.query.get("product_type", "SPOT") == "SPOT"
            products = self._products if spot else []
            return json_response(200, {"products": products, "num_products": len(products)})
        if request.path == "/v2/currencies":
            return _data([{"id": code, "name": name, "min_size": "0.01"} for code, name in _FIAT.items()])
        if request.path == "/v2/currencies/crypto":
            return _data(self._crypto)
        if request.path == "/v2/exchange-rates":
            return _data({"currency": "USD", "rates": self._rates})
        if request.path == "/v2/time":
            seconds = request.now_ms // 1000
            return _data({"iso": datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                          "epoch": seconds})
        return self.error(404, f"unknown path {request.path}")

    def is_data(self, request: Request) -> bool:
        return _CANDLES_PATH.match(request.path) is not None

    def error(self, status: int, message: str) -> Response:
        if status in _EDGE_STATUSES:
            page = f"<html><head><title>Coinbase</title></head><body>{_EDGE_STATUSES[status]}</body></html>"
            return Response(status=status, body=page.encode(), headers={"Content-Type": "text/html"})
        code = _GRPC_CODES.get(status, "INVALID_ARGUMENT" if status < 500 else "UNAVAILABLE")
        return json_response(status, {"error": code, "error_details": message, "message": message})

    def empty(self) -> Response:
        return json_response(200, {"candles": []})

    def _candles(self, request: Request, *, product_id: str) -> Response:
        symbol = self._by_id.get(product_id)
        if symbol is None:
            return self.error(404, f"Product {product_id} not supported")
        query = request.query
        granularity = GRANULARITY_S.get(query.get("granularity", ""))
        if granularity is None:
            raise BadArgument("granularity argument is invalid")
        start, end = _integer(query, "start"), _integer(query, "end")
        if start is None or end is None or start > end:
            raise BadArgument("start and end argument is invalid")
        if (end - start) // granularity > MAX_CANDLES:
            raise BadArgument(_RANGE_TOO_WIDE)
        limit = _integer(query, "limit") or MAX_CANDLES  # proto3: 0 and absent are the same, the default
        if not 0 < limit <= MAX_CANDLES:
            raise BadArgument("limit argument is invalid")
        page = self.store.page(symbol, timeframe_ms=granularity * 1000, start_ms=start * 1000, end_ms=end * 1000,
                               limit=MAX_CANDLES + 1, now_ms=request.now_ms)
        return Response(status=200, body=_candle_rows(page.frame.tail(limit).reverse()), cacheable=page.final)

    def _product(self, symbol: str) -> dict:
        base, quote = symbol.split("/")
        tick = f"{10.0 ** -self.store.price_decimals(symbol):.8f}".rstrip("0")
        return {
            "product_id": f"{base}-{quote}",
            "base_increment": "0.00000001",
            "quote_increment": tick,
            "quote_min_size": "1",
            "quote_max_size": "150000000",
            "base_min_size": "0.00000001",
            "base_max_size": "3400",
            "base_name": _name(base),
            "quote_name": _name(quote),
            "watched": False,
            "is_disabled": False,
            "new": False,
            "status": "online",
            "cancel_only": False,
            "limit_only": False,
            "post_only": False,
            "trading_disabled": False,
            "auction_mode": False,
            "product_type": "SPOT",
            "quote_currency_id": quote,
            "base_currency_id": base,
            "fcm_trading_session_details": None,
            "mid_market_price": "",
            "alias": "",
            "alias_to": [],
            "base_display_symbol": base,
            "quote_display_symbol": quote,
            "view_only": False,
            "price_increment": tick,
            "display_name": f"{base}-{quote}",
            "product_venue": "CBE",
        }


def _name(code: str) -> str:
    return _FIAT.get(code) or _NAMES.get(code, code)


def _crypto_currency(code: str) -> dict:
    """One `/v2/currencies/crypto` entry; the asset id is a stable UUID, as Coinbase's are."""
    return {"asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"coinbase-asset:{code}")), "code": code,
            "name": _name(code), "color": "#0052FF", "sort_index": 100, "exponent": 8, "type": "crypto"}


def _usd_rate(code: str) -> str:
    """Units of `code` per US dollar, from the level the synthetic prices oscillate around (USDT counts as USD)."""
    return "1" if code == "USDT" else f"{1 / base_price(f'{code}/USDT'):.10g}"


def _data(data) -> Response:
    return json_response(200, {"data": data})


def _integer(query: dict[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None:
        return None
    if not _INTEGER.match(value):
        raise BadArgument(f"{name} argument is invalid")
    return int(value)


def _candle_rows(frame) -> bytes:
    """`{"candles":[{"start","low","high","open","close","volume"}, ...]}`, every value a string."""
    rows = json_rows([
        b'{"start":"', frame["open_ms"].to_numpy() // 1000, b'","low":"', frame["low"].to_numpy(),
        b'","high":"', frame["high"].to_numpy(), b'","open":"', frame["open"].to_numpy(),
        b'","close":"', frame["close"].to_numpy(), b'","volume":"', frame["volume"].to_numpy(), b'"}',
    ])
    return b'{"candles":' + rows + b"}"
