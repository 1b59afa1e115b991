"""OKX v5 perpetual swaps (`instType=SWAP`): instruments, funding-rate history and contract open-interest history.

What ccxt 4.5's `okx` calls for `BTC/USDT:USDT` (python/ccxt/okx.py; candle endpoints are in `okx.py`):
- `GET /api/v5/public/instruments?instType=SWAP` at `load_markets`. ccxt names a swap `BASE/QUOTE:SETTLE` from `uly`
  and `settleCcy` (a real swap's `baseCcy`/`quoteCcy` are empty) and takes `ctVal` as its contract size; index
  candles are asked for by `instFamily` (`BTC-USDT`), so every swap carries one. Fields as OKX's "Get instruments"
  response (www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments): `ctVal` 0.01 BTC and 0.1 ETH as OKX
  lists BTC-USDT-SWAP and ETH-USDT-SWAP, 1 coin for the others.
- `fetch_funding_rate_history` -> `GET /api/v5/public/funding-rate-history?instId=...&before=since-1[&limit]`.
  OKX (docs-v5 #public-data-rest-api-get-funding-rate-history): "This endpoint can retrieve data from the last 3
  months", `before`/`after` exclusive bounds on `fundingTime`, `limit` at most 100 (default 100), rows newest first
  with `instType, instId, formulaType, fundingRate` (the predicted rate), `realizedRate` (the actual one),
  `fundingTime, method`. ccxt reads `realizedRate` as the rate, so that field carries `perp_series`'s rate; OKX
  gives no mark price with it. Depth here: 90 days back from now (the docs' "3 months"), nothing older.
- `fetch_funding_rate` (and `fetch_funding_interval`) -> `GET /api/v5/public/funding-rate?instId=...`: the current
  period, one entry per instrument (docs-v5 #public-data-rest-api-get-funding-rate, the URL ccxt's okx.py cites),
  with the instrument's bounds `maxFundingRate`/`minFundingRate` ("0.00375"/"-0.00375" for BTC-USDT-SWAP in a
  recorded OKX `funding-rate` message: the same fields as the REST answer, `formulaType, fundingRate, fundingTime,
  impactValue, instId, instType, interestRate, maxFundingRate, method, minFundingRate, nextFundingRate,
  nextFundingTime, premium, prevFundingTime, settFundingRate, settState, ts`). `fundingTime` is the next scheduled
  settlement, `nextFundingTime` one interval later (ccxt reads their difference as the interval), `prevFundingTime`
  the last settled one; the bounds are `perp_series`'s cap in force now. The emulator predicts nothing: the current
  period's `fundingRate` is the last settled rate (`settFundingRate`) and `nextFundingRate` is empty, as OKX sends it.
- `fetch_open_interest_history(symbol, "5m", since, limit)` -> `GET /api/v5/rubik/stat/contracts/open-interest-history
  ?instId=...&period=5m&begin=since-1&end=...[&limit]`. OKX (docs-v5 #trading-statistics-rest-api-get-contract-open-
  interest-history): "This endpoint can retrieve the latest 1,440 data entries" per period (five days at 5m),
  `begin`/`end` exclusive, `limit` at most 100 (default 100), rows `[ts, oi, oiCcy, oiUsd]` newest first: contracts,
  coin and USD. Periods served: 5m, 15m, 30m, 1H, 2H, 4H and 1Dutc; as for candles, plain `1D` (Hong Kong days,
  which ccxt asks for on `1d`) is refused with 51000. Each row is the 5-minute series at its stamp.
Limits over the maximum are capped quietly, as the candle endpoints do; an unknown instrument is code 51001. Every
page comes from the venue's store (`CandleStore.page` with `series="funding"` or `"open_interest"`), so the
emulator's faults reach them as they reach candles. Funding events are stamped and bounded at their scheduled time
(`scheduled_funding.py`).
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl

from datafactory_assets.emulator import perp_series
from datafactory_assets.emulator.candles import price_decimals
from datafactory_assets.emulator.encode import json_rows
from datafactory_assets.emulator.scheduled_funding import newest_events
from datafactory_assets.emulator.venue import Response

FUNDING_HISTORY = "/api/v5/public/funding-rate-history"
FUNDING_RATE = "/api/v5/public/funding-rate"
OPEN_INTEREST_HISTORY = "/api/v5/rubik/stat/contracts/open-interest-history"
MAX_LIMIT = 100
FUNDING_DEPTH_MS = 90 * 86_400_000  # "the last 3 months"
OI_DEPTH_ENTRIES = 1440  # "the latest 1,440 data entries"
OI_PERIODS_MS = {"5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1H": 3_600_000, "2H": 7_200_000,
                 "4H": 14_400_000, "1Dutc": 86_400_000}
CONTRACT_VALUES = {"BTC": 0.01, "ETH": 0.1}  # coins per contract; 1 for the other swaps


def swap_id(symbol: str) -> str:
    """`BTC/USDT:USDT` -> `BTC-USDT-SWAP`."""
    return f"{family(symbol)}-SWAP"


def family(symbol: str) -> str:
    """The instrument family (and index) of a swap: `BTC/USDT:USDT` -> `BTC-USDT`."""
    return perp_series.underlying(symbol).replace("/", "-")


def contract_value(symbol: str) -> float:
    return CONTRACT_VALUES.get(symbol.partition("/")[0], 1.0)


def instrument(symbol: str, *, code: int) -> dict:
    """One `instType=SWAP` entry of `/public/instruments`, as OKX lists a USDT-margined perpetual."""
    base, quote = perp_series.underlying(symbol).split("/")
    decimals = price_decimals(perp_series.underlying(symbol))
    return {
        "alias": "", "auctionEndTime": "", "baseCcy": "", "category": "1", "contTdSwTime": "", "ctMult": "1",
        "ctType": "linear", "ctVal": f"{contract_value(symbol):g}", "ctValCcy": base, "expTime": "",
        "futureSettlement": False, "instFamily": family(symbol), "instId": swap_id(symbol), "instIdCode": code,
        "instType": "SWAP", "lever": "100", "listTime": str(perp_series.perp_listed_since_ms(symbol)), "lotSz": "0.01",
        "maxIcebergSz": "100000000", "maxLmtAmt": "20000000", "maxLmtSz": "100000000", "maxMktAmt": "",
        "maxMktSz": "12000", "maxStopSz": "12000", "maxTriggerSz": "100000000", "maxTwapSz": "100000000",
        "minSz": "0.01", "openType": "", "optType": "", "quoteCcy": "", "ruleType": "normal", "settleCcy": quote,
        "state": "live", "stk": "", "tickSz": f"{10.0**-decimals:.{decimals}f}", "tradeQuoteCcyList": [],
        "uly": family(symbol),
    }


def funding_history(store, symbol: str, *, before: int | None, after: int | None, limit: int,
                    now_ms: int) -> Response:
    """The newest `limit` funding events of `store` scheduled strictly before `after` (and not after now), cut at
    `before` and at the depth, newest first."""
    oldest = max(now_ms - FUNDING_DEPTH_MS - 1, -1 if before is None else before)
    events = newest_events(store, symbol, first_ms=oldest + 1, last_ms=None if after is None else after - 1,
                           limit=limit, now_ms=now_ms).reverse()
    rate = events["rate"].to_numpy()
    rows = json_rows([
        b'{"formulaType":"withRate","fundingRate":"', rate, b'","fundingTime":"', events["open_ms"].to_numpy(),
        b'","instId":"', swap_id(symbol).encode(), b'","instType":"SWAP","method":"current_period","realizedRate":"',
        rate, b'"}',
    ])
    return Response(status=200, body=b'{"code":"0","msg":"","data":' + rows + b"}")


def funding_rate(store, symbol: str, *, now_ms: int) -> Response:
    """The one-entry answer of `/public/funding-rate`: the current period of `symbol` and its bounds."""
    terms = perp_series.terms_at(symbol, now_ms)
    step = terms.interval_hours * perp_series.HOUR_MS
    upcoming = (now_ms // step + 1) * step
    following = upcoming + perp_series.terms_at(symbol, upcoming).interval_hours * perp_series.HOUR_MS
    settled = newest_events(store, symbol, first_ms=0, last_ms=None, limit=1, now_ms=now_ms)
    rate = f"{settled['rate'][0]:.8f}" if settled.height else ""
    premium = perp_series.premium(symbol, np.array([now_ms], dtype=np.int64))[0]
    return Response(status=200, body=json.dumps({"code": "0", "msg": "", "data": [{
        "formulaType": "withRate", "fundingRate": rate, "fundingTime": str(upcoming), "impactValue": "20000",
        "instId": swap_id(symbol), "instType": "SWAP", "interestRate": f"{perp_series.INTEREST_PER_8H:g}",
        "maxFundingRate": f"{terms.cap:g}", "method": "current_period", "minFundingRate": f"{-terms.cap:g}",
        "nextFundingRate": "", "nextFundingTime": str(following), "premium": f"{premium:.8f}",
        "prevFundingTime": str(settled["open_ms"][0]) if settled.height else "", "settFundingRate": rate,
        "settState": "settled", "ts": str(now_ms),
    }]}, separators=(",", ":")).encode())


def open_interest_history(store, symbol: str, *, period: str, begin: int | None, end: int | None, limit: int,
                          now_ms: int) -> Response:
    """The newest `limit` of the latest `OI_DEPTH_ENTRIES` samples strictly between `begin` and `end`, newest first."""
    step = OI_PERIODS_MS[period]
    page = store.page(symbol, timeframe_ms=step, start_ms=None, end_ms=None if end is None else end - 1, limit=limit,
                      now_ms=now_ms, series="open_interest")
    oldest = max(now_ms // step * step - OI_DEPTH_ENTRIES * step, -1 if begin is None else begin)
    interest = page.frame.filter(pl.col("open_ms") > oldest).reverse()
    amount = interest["amount"].to_numpy()
    contracts = np.round(amount / contract_value(symbol), 8)
    rows = json_rows([b'["', interest["open_ms"].to_numpy(), b'","', contracts, b'","', amount, b'","',
                      interest["value"].to_numpy(), b'"]'])
    return Response(status=200, body=b'{"code":"0","msg":"","data":' + rows + b"}")
