"""The Binance USDⓈ-M futures REST dialect, as far as ccxt `binanceusdm` exercises it for market data.

What ccxt 4.5 calls (binance.py): `load_markets` asks only `GET /fapi/v1/exchangeInfo` (option fetchMarkets
types ["linear"]; fetchCurrencies needs API keys and is skipped without them); `fetch_ohlcv` asks `/fapi/v1/klines`,
or with `params={"price": "mark" | "index" | "premiumIndex"}` `/fapi/v1/markPriceKlines`, `/fapi/v1/indexPriceKlines`
(with `pair=BTCUSDT`, not `symbol`) and `/fapi/v1/premiumIndexKlines`; `fetch_funding_rate_history` asks
`/fapi/v1/fundingRate`; `fetch_funding_intervals` asks `/fapi/v1/fundingInfo`; `fetch_open_interest_history` asks
`/futures/data/openInterestHist` (and sends `endTime = since + limit x period` when given only `since`).

The answers follow Binance's USDⓈ-M docs (developers.binance.com/docs/derivatives/usds-margined-futures/
market-data/rest-api/...):
- Kline, Mark Price Kline, Index Price Kline and Premium index Kline Data: limit default 500, max 1500; weight by
  limit 1 for [1, 100), 2 for [100, 500), 5 for [500, 1000], 10 above. Price klines put "0" in the volume fields
  and the number of basic data in the count field (60 per minute for mark and index, 12 for the premium index,
  computed every 5 s), as the docs' examples (`[1691603820000,"-0.00042931",...,"0",1691603879999,"0",12,"0","0",
  "0"]`) show.
- Get Funding Rate History: `[{"symbol","fundingRate","fundingTime","markPrice"}]`, limit default 100, max 1000,
  ascending; without startTime and endTime the most recent `limit` events.
- Get Funding Rate Info: only "symbols that had FundingRateCap / FundingRateFloor / fundingIntervalHours
  adjustment", as `{"symbol","adjustedFundingRateCap","adjustedFundingRateFloor","fundingIntervalHours",
  "disclaimer"}` (the shape ccxt's binance.ts quotes for BLZUSDT), caps with 8 decimals. An instrument not listed
  funds every 8 hours at its default cap, which Binance states nowhere public: 0.75 x the maintenance margin rate
  of its first leverage bracket (USDⓈ-M FAQ "Introduction to Binance Futures Funding Rates"; the brackets come from
  the signed `GET /fapi/v1/leverageBracket`). So BTCUSDT, never adjusted here, is not listed, and ETHUSDT, whose
  interval and cap changed (`perp_series.FUNDING_TERMS`), is, with the terms in force now.
- Open Interest Statistics: periods 5m to 1d, limit default 30, max 500, "If startTime and endTime are not sent, the
  most recent data is returned. Only the data of the latest 30 days is available"; a window reaching further back is
  refused server-side (ccxt maintainers on ccxt #23712: "any `since` older than that is refused"), here with
  Binance's -1130 invalid-parameter error. Rows as ccxt's recorded answer: `{"symbol","sumOpenInterest",
  "sumOpenInterestValue","timestamp"}`, amounts as strings with 8 decimals.
Errors, the firewall 403 and the `X-MBX-USED-WEIGHT-1M` header are the spot dialect's (`binance.BinanceDialect`).

The perpetuals listed are the emulator's USDT pairs as `BTC/USDT:USDT`, with the data of `perp_series.py`.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import polars as pl

from datafactory_assets.emulator.binance import (
    INTERVALS_MS,
    BadParameter,
    BinanceDialect,
    integer,
    kline_rows,
    limit_of,
    required,
)
from datafactory_assets.emulator.encode import json_rows
from datafactory_assets.emulator.perp_series import (
    DAY_MS,
    funding_terms,
    perp_listed_since_ms,
    perpetual_of,
    terms_at,
)
from datafactory_assets.emulator.venue import RateBudget, Request, Response, json_response

KLINE_PATHS = {"/fapi/v1/klines": "trade", "/fapi/v1/markPriceKlines": "mark",
               "/fapi/v1/indexPriceKlines": "index", "/fapi/v1/premiumIndexKlines": "premium"}
FUNDING_PATH, FUNDING_INFO_PATH = "/fapi/v1/fundingRate", "/fapi/v1/fundingInfo"
OPEN_INTEREST_PATH = "/futures/data/openInterestHist"
KLINE_DEFAULT, KLINE_MAX = 500, 1500
FUNDING_DEFAULT, FUNDING_MAX = 100, 1000
OPEN_INTEREST_DEFAULT, OPEN_INTEREST_MAX = 30, 500
OPEN_INTEREST_DEPTH_MS = 30 * DAY_MS
OPEN_INTEREST_PERIODS = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")
WEIGHT_LIMIT_1M = 2400
_WEIGHTS = {"/fapi/v1/exchangeInfo": 1, **dict.fromkeys(KLINE_PATHS, 5)}  # klines: what ccxt's limit 1000 costs
_BASIC_DATA_PER_MINUTE = {"mark": 60, "index": 60, "premium": 12}
_RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": WEIGHT_LIMIT_1M},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
]
_ORDER_TYPES = ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"]
_PERPETUAL_DELIVERY_MS = 4_133_404_800_000  # 2100-12-25: the delivery date Binance gives every perpetual


class BinanceUsdmVenue(BinanceDialect):
    """`/fapi/v1/{ping,time,exchangeInfo,klines,markPriceKlines,indexPriceKlines,premiumIndexKlines,fundingRate,
    fundingInfo}` and `/futures/data/openInterestHist`."""

    id = "binanceusdm"
    api = "/fapi/v1"
    rate_budget = RateBudget(WEIGHT_LIMIT_1M, window_s=60, weights=_WEIGHTS, ban_s=120)

    def __init__(self, store):
        super().__init__(store)
        spots = [symbol for symbol in store.symbols if symbol.endswith("/USDT")]
        self._by_id = {spot.replace("/", ""): perpetual_of(spot) for spot in spots}
        self._markets = [self._market(market_id, symbol) for market_id, symbol in self._by_id.items()]

    def endpoints(self) -> dict[str, Callable[[Request], Response]]:
        return {"/fapi/v1/exchangeInfo": self._exchange_info, FUNDING_PATH: self._funding,
                FUNDING_INFO_PATH: self._funding_info, OPEN_INTEREST_PATH: self._open_interest,
                **dict.fromkeys(KLINE_PATHS, self._klines)}

    def _exchange_info(self, request: Request) -> Response:
        return json_response(200, {"timezone": "UTC", "serverTime": request.now_ms, "futuresType": "U_MARGINED",
                                   "rateLimits": _RATE_LIMITS, "exchangeFilters": [], "assets": [],
                                   "symbols": self._markets})

    def is_data(self, request: Request) -> bool:
        return request.path in KLINE_PATHS or request.path in (FUNDING_PATH, OPEN_INTEREST_PATH)

    def weight(self, request: Request) -> int:
        """Klines cost by their limit, as the docs' table says; the rest as declared."""
        if request.path not in KLINE_PATHS:
            return super().weight(request)
        try:
            limit = limit_of(request.query, default=KLINE_DEFAULT, maximum=KLINE_MAX)
        except BadParameter:
            return 1
        return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10

    def _symbol(self, query: dict[str, str], name: str = "symbol") -> str:
        symbol = self._by_id.get(required(query, name))
        if symbol is None:
            raise BadParameter(-1121, "Invalid symbol.")
        return symbol

    def _klines(self, request: Request) -> Response:
        kind = KLINE_PATHS[request.path]
        query = request.query
        symbol = self._symbol(query, "pair" if kind == "index" else "symbol")
        timeframe_ms = INTERVALS_MS.get(required(query, "interval"))
        if timeframe_ms is None:
            raise BadParameter(-1120, "Invalid interval.")
        page = self.store.page(symbol, timeframe_ms=timeframe_ms, start_ms=integer(query, "startTime"),
                               end_ms=integer(query, "endTime"), now_ms=request.now_ms, series=kind,
                               limit=limit_of(query, default=KLINE_DEFAULT, maximum=KLINE_MAX))
        if kind == "trade":
            body = kline_rows(page.frame, timeframe_ms)
        else:
            body = _price_kline_rows(page.frame, timeframe_ms, basic_data=_BASIC_DATA_PER_MINUTE[kind])
        return Response(status=200, body=body, cacheable=page.final)

    def _funding(self, request: Request) -> Response:
        """One instrument's events, or every instrument's merged by time when no symbol is sent."""
        query = request.query
        symbols = [self._symbol(query)] if "symbol" in query else list(self._by_id.values())
        limit = limit_of(query, default=FUNDING_DEFAULT, maximum=FUNDING_MAX)
        selection = {"timeframe_ms": 1, "start_ms": integer(query, "startTime"), "end_ms": integer(query, "endTime"),
                     "limit": limit, "now_ms": request.now_ms, "series": "funding"}
        pages = [self.store.page(symbol, **selection) for symbol in symbols]
        frames = [page.frame.with_columns(symbol=pl.lit(symbol.partition(":")[0].replace("/", "")))
                  for symbol, page in zip(symbols, pages)]
        events = pl.concat(frames).sort("funding_ms", maintain_order=True)
        events = events.head(limit) if selection["start_ms"] is not None else events.tail(limit)
        return Response(status=200, body=_funding_rows(events), cacheable=all(page.final for page in pages))

    def _funding_info(self, request: Request) -> Response:
        """The instruments whose terms were ever adjusted, with the terms in force now."""
        rows = []
        for market_id, symbol in self._by_id.items():
            if len(funding_terms(symbol)) > 1:
                terms = terms_at(symbol, request.now_ms)
                rows.append({"symbol": market_id, "adjustedFundingRateCap": f"{terms.cap:.8f}",
                             "adjustedFundingRateFloor": f"{-terms.cap:.8f}",
                             "fundingIntervalHours": terms.interval_hours, "disclaimer": False})
        return json_response(200, rows)

    def _open_interest(self, request: Request) -> Response:
        query = request.query
        symbol = self._symbol(query)
        period = required(query, "period")
        if period not in OPEN_INTEREST_PERIODS:
            raise BadParameter(-1130, "Data sent for parameter 'period' is not valid.")
        start_ms, end_ms = integer(query, "startTime"), integer(query, "endTime")
        oldest = request.now_ms - OPEN_INTEREST_DEPTH_MS
        for name, value in (("startTime", start_ms), ("endTime", end_ms)):
            if value is not None and value < oldest:
                raise BadParameter(-1130, f"Data sent for parameter '{name}' is not valid.")
        page = self.store.page(symbol, timeframe_ms=INTERVALS_MS[period], start_ms=start_ms, end_ms=end_ms,
                               limit=limit_of(query, default=OPEN_INTEREST_DEFAULT, maximum=OPEN_INTEREST_MAX),
                               now_ms=request.now_ms, series="open_interest")
        frame = page.frame.filter(pl.col("open_ms") >= oldest)
        market_id = query["symbol"].encode()
        body = json_rows([b'{"symbol":"', market_id, b'","sumOpenInterest":"', frame["amount"].to_numpy(),
                          b'","sumOpenInterestValue":"', frame["value"].to_numpy(), b'","timestamp":',
                          frame["open_ms"].to_numpy(), b"}"]) if frame.height else b"[]"
        return Response(status=200, body=body)  # never cached: the 30-day horizon moves

    def _market(self, market_id: str, symbol: str) -> dict:
        base, quote = symbol.partition(":")[0].split("/")
        decimals = self.store.price_decimals(symbol)
        tick = f"{10.0**-decimals:.{decimals}f}"
        return {
            "symbol": market_id, "pair": market_id, "contractType": "PERPETUAL",
            "deliveryDate": _PERPETUAL_DELIVERY_MS, "onboardDate": perp_listed_since_ms(symbol),
            "status": "TRADING", "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
            "baseAsset": base, "quoteAsset": quote, "marginAsset": quote, "pricePrecision": decimals,
            "quantityPrecision": 3, "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
            "underlyingSubType": [], "settlePlan": 0, "triggerProtect": "0.0500", "liquidationFee": "0.012500",
            "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "4529764", "tickSize": tick},
                {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
                {"filterType": "MARKET_LOT_SIZE", "minQty": "0.001", "maxQty": "120", "stepSize": "0.001"},
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                {"filterType": "MIN_NOTIONAL", "notional": "100"},
                {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
                 "multiplierDecimal": "4"},
            ],
            "orderTypes": _ORDER_TYPES, "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        }


def _price_kline_rows(frame: pl.DataFrame, timeframe_ms: int, *, basic_data: int) -> bytes:
    """Mark, index and premium klines: Binance's 12 fields with "0" for every volume and the count of basic data."""
    count = str(basic_data * timeframe_ms // 60_000).encode()
    open_ms = frame["open_ms"].to_numpy()
    return json_rows([
        b"[", open_ms, b',"', frame["open"].to_numpy(), b'","', frame["high"].to_numpy(), b'","',
        frame["low"].to_numpy(), b'","', frame["close"].to_numpy(), b'","0",', open_ms + (timeframe_ms - 1),
        b',"0",' + count + b',"0","0","0"]',
    ])


def _funding_rows(events: pl.DataFrame) -> bytes:
    """`{"symbol","fundingRate","fundingTime","markPrice"}` objects, rates and prices with 8 decimals."""
    return json.dumps([
        {"symbol": symbol, "fundingRate": f"{rate:.8f}", "fundingTime": funding_ms, "markPrice": f"{mark:.8f}"}
        for symbol, rate, funding_ms, mark in events.select("symbol", "rate", "funding_ms", "mark").iter_rows()
    ], separators=(",", ":")).encode()
