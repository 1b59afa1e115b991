"""Bybit v5 linear perpetuals (`category=linear`): instruments, funding-rate history and open interest.

What ccxt 4.5's `bybit` calls for `BTC/USDT:USDT` (python/ccxt/bybit.py; the kline endpoints are in `bybit.py`),
answered as Bybit's v5 docs (github.com/bybit-exchange/docs, docs/v5/market/*.mdx) describe:
- `load_markets`: `GET /v5/market/instruments-info?category=linear&limit=1000` and the same with `status=PreLaunch`
  (pre-market contracts: none here), following `nextPageCursor` while it is not empty. instrument.mdx: `limit`
  [1, 1000], default 500, "use `cursor` for pagination"; entries as its linear example (`contractType`
  LinearPerpetual, `launchTime`, `fundingInterval` in minutes, `upperFundingRate`/`lowerFundingRate`, ...). The
  `fundingInterval` is the one in force now (`perp_series.terms_at`), so an instrument whose interval changed
  shows its new one, as Bybit's does; so are its caps `upperFundingRate`/`lowerFundingRate` ("Upper limit of
  funding date" / "Lower limit of funding date", sic; strings, "0.00375"/"-0.00375" in the BTCUSDT example), the
  only place Bybit states them; ccxt keeps them in the market's `info`.
- `fetch_funding_rate_history` -> `GET /v5/market/funding/history?category=linear&symbol=BTCUSDT&limit=...
  [&startTime&endTime]` (history-fund-rate.mdx): `limit` [1, 200], default 200; "Passing only `startTime` returns an
  error" (the docs do not quote it: here retCode 10001 like every Bybit parameter error); only `endTime`: the 200
  newest up to it; neither: the newest up to now. Rows `{symbol, fundingRate, fundingRateTimestamp}`, newest first,
  no mark price. Depth: back to the instrument's launch (the docs state no limit).
- `fetch_open_interest_history(symbol, "5m", since, limit)` -> `GET /v5/market/open-interest?symbol&intervalTime=
  5min&category=linear&startTime&endTime[&limit]` (open-interest.mdx): `intervalTime` 5min, 15min, 30min, 1h, 4h or
  1d; `limit` [1, 200], default 50; rows newest first walking back from `endTime` (or now), each
  `{openInterest, singleOpenInterest, timestamp}` in base coin for linear (`openInterest` "the sum of both sides":
  `perp_series`'s amount; the single side is half of it); `nextPageCursor` continues with the older rows, empty when
  none is left. Depth: "The upper limit time you can query is the launch time of the symbol."
Funding and open-interest pages come from the venue's store (`CandleStore.page` with `series="funding"` or
`"open_interest"`), so the emulator's faults reach them as they reach candles.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from datafactory_assets.emulator import perp_series
from datafactory_assets.emulator.candles import price_decimals
from datafactory_assets.emulator.encode import json_rows
from datafactory_assets.emulator.scheduled_funding import newest_events

FUNDING_HISTORY, OPEN_INTEREST = "/v5/market/funding/history", "/v5/market/open-interest"
FUNDING_LIMIT = (1, 200, 200)  # (min, max, default)
OPEN_INTEREST_LIMIT = (1, 200, 50)
INSTRUMENTS_LIMIT = (1, 1000, 500)
INTERVAL_TIMES_MS = {"5min": 300_000, "15min": 900_000, "30min": 1_800_000, "1h": 3_600_000, "4h": 14_400_000,
                     "1d": 86_400_000}
CURSOR_PREFIX = "lastTime="


def symbol_id(symbol: str) -> str:
    """`BTC/USDT:USDT` -> `BTCUSDT`, as Bybit names a linear perpetual."""
    return perp_series.underlying(symbol).replace("/", "")


def instruments(perpetuals: tuple[str, ...], *, limit: int, cursor: str | None, now_ms: int) -> dict:
    """One page of the linear instruments: `limit` from the position `cursor` names, and the next page's cursor."""
    start = int(cursor) if cursor and cursor.isdigit() else 0
    page = perpetuals[start : start + limit]
    following = start + limit if start + limit < len(perpetuals) else None
    return {"category": "linear", "list": [_instrument(symbol, now_ms=now_ms) for symbol in page],
            "nextPageCursor": "" if following is None else str(following)}


def _instrument(symbol: str, *, now_ms: int) -> dict:
    base, quote = perp_series.underlying(symbol).split("/")
    decimals = price_decimals(perp_series.underlying(symbol))
    tick = f"{10.0**-decimals:.{decimals}f}"
    terms = perp_series.terms_at(symbol, now_ms)
    return {
        "symbol": symbol_id(symbol), "contractType": "LinearPerpetual", "status": "Trading", "baseCoin": base,
        "quoteCoin": quote, "launchTime": str(perp_series.perp_listed_since_ms(symbol)), "deliveryTime": "0",
        "deliveryFeeRate": "", "priceScale": str(decimals),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
        "priceFilter": {"minPrice": tick, "maxPrice": "1999999.80", "tickSize": tick},
        "lotSizeFilter": {"maxOrderQty": "1190.000", "minOrderQty": "0.001", "qtyStep": "0.001",
                          "postOnlyMaxOrderQty": "1190.000", "maxMktOrderQty": "500.000", "minNotionalValue": "5"},
        "unifiedMarginTrade": True, "fundingInterval": terms.interval_hours * 60, "settleCoin": quote,
        "copyTrading": "both", "upperFundingRate": f"{terms.cap:g}", "lowerFundingRate": f"{-terms.cap:g}",
        "isPreListing": False, "preListingInfo": None,
        "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"}, "symbolType": "",
    }


def funding_history(store, symbol: str, *, start: int | None, end: int | None, limit: int, now_ms: int) -> bytes:
    """The `result` of a funding-history answer: the newest `limit` events of `store` scheduled up to `end` (or
    now), cut at `start`, newest first."""
    events = newest_events(store, symbol, first_ms=start or 0, last_ms=end, limit=limit, now_ms=now_ms).reverse()
    rows = json_rows([b'{"symbol":"', symbol_id(symbol).encode(), b'","fundingRate":"', events["rate"].to_numpy(),
                      b'","fundingRateTimestamp":"', events["open_ms"].to_numpy(), b'"}'])
    return b'{"category":"linear","list":' + rows + b"}"


def open_interest(store, symbol: str, *, interval: str, start: int | None, end: int | None, cursor: str | None,
                  limit: int, now_ms: int) -> bytes:
    """The `result` of an open-interest answer: the newest `limit` samples of `store` up to `end` (or now, or the
    cursor's time when given), cut at `start`, newest first, and the cursor of the older rest."""
    step = INTERVAL_TIMES_MS[interval]
    if cursor and cursor.startswith(CURSOR_PREFIX) and cursor[len(CURSOR_PREFIX):].isdigit():
        end = int(cursor[len(CURSOR_PREFIX):]) if end is None else min(end, int(cursor[len(CURSOR_PREFIX):]))
    page = store.page(symbol, timeframe_ms=step, start_ms=None, end_ms=end, limit=limit, now_ms=now_ms,
                      series="open_interest")
    first = max(start or 0, perp_series.perp_listed_since_ms(symbol))
    samples = page.frame.filter(pl.col("open_ms") >= first).reverse()
    stamps, amount = samples["open_ms"].to_numpy(), samples["amount"].to_numpy()
    older = int(stamps[-1]) - step if page.frame.height == limit and len(stamps) else None
    following = f"{CURSOR_PREFIX}{older}" if older is not None and older >= first else ""
    rows = json_rows([b'{"openInterest":"', amount, b'","singleOpenInterest":"', np.round(amount / 2, 8),
                      b'","timestamp":"', stamps, b'"}'])
    return b"".join([b'{"symbol":"', symbol_id(symbol).encode(), b'","category":"linear","list":', rows,
                     b',"nextPageCursor":"', following.encode(), b'"}'])
