"""What a venue states about an instrument's funding now: its interval and the caps it clamps every rate to, and
where it said so.

Each venue states these in its own place, and only the terms in force now:
- Binance USDⓈ-M: `GET /fapi/v1/fundingInfo` (ccxt `fetch_funding_intervals`, one request for every instrument)
  lists only "symbols that had FundingRateCap / FundingRateFloor / fundingIntervalHours adjustment", with
  `adjustedFundingRateCap`/`adjustedFundingRateFloor` and `fundingIntervalHours`. Any other instrument funds every
  8 hours at its default cap, 0.75 x the maintenance margin rate of its first leverage bracket (USDⓈ-M FAQ
  "Introduction to Binance Futures Funding Rates"), which only the signed `GET /fapi/v1/leverageBracket` tells: we
  hold no keys, so its caps are unknown.
- OKX: `GET /api/v5/public/funding-rate` (ccxt `fetch_funding_rate`, one request per instrument):
  `maxFundingRate`/`minFundingRate`, and the interval as the spacing of `fundingTime` and `nextFundingTime`.
- Bybit: `GET /v5/market/instruments-info?category=linear`, which ccxt's `load_markets` read already:
  `upperFundingRate`/`lowerFundingRate` and `fundingInterval` (minutes) in the market's `info`. No request.

Caps unknown are said so (`caps_from` begins "unknown:"), never guessed: validation then falls back to the flat band
(`checks.funding.RATE_CAP`). A venue states the caps in force now, and they are applied to the events fetched with
them: a cap a venue lowered since an event would refuse that event (see `checks.funding`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from datafactory_assets.datasets.funding_intervals import DEFAULT_INTERVAL_MS
from datafactory_assets.datasets.funding_rates import UNKNOWN

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class StatedTerms:
    """An instrument's funding terms as a venue states them now: `interval_ms` (None: not stated), `cap` and
    `floor` (None: unknown), and `caps_from`, where the caps came from or why they are unknown."""

    interval_ms: int | None
    cap: float | None
    floor: float | None
    caps_from: str


def _number(value) -> float | None:
    return None if value in (None, "") else float(value)


def _binance(source, symbol: str, run) -> StatedTerms:
    stated = run(lambda: source._call(source.exchange.fetch_funding_intervals, about=symbol), weight=1)
    entry = stated.get(symbol)
    if entry is None:
        market_id = source.exchange.market(symbol)["id"]
        return StatedTerms(DEFAULT_INTERVAL_MS, None, None,
                           f"{UNKNOWN}: binance's fundingInfo does not list {market_id}, whose default cap (0.75 x its "
                           "first leverage bracket's maintenance margin rate) only a signed endpoint tells")
    info, interval = entry.get("info") or {}, entry.get("interval")
    return StatedTerms(int(interval.removesuffix("h")) * HOUR_MS if interval else DEFAULT_INTERVAL_MS,
                       _number(info.get("adjustedFundingRateCap")), _number(info.get("adjustedFundingRateFloor")),
                       "binance GET /fapi/v1/fundingInfo adjustedFundingRateCap/adjustedFundingRateFloor")


def _okx(source, symbol: str, run) -> StatedTerms:
    current = run(lambda: source._call(source.exchange.fetch_funding_rate, symbol, about=symbol), weight=1)
    info, interval = current.get("info") or {}, current.get("interval")
    hours = interval.removesuffix("h") if interval else ""
    return StatedTerms(int(hours) * HOUR_MS if hours.isdigit() else None,
                       _number(info.get("maxFundingRate")), _number(info.get("minFundingRate")),
                       "okx GET /api/v5/public/funding-rate maxFundingRate/minFundingRate")


def _bybit(source, symbol: str, run) -> StatedTerms:
    info = source.exchange.market(symbol)["info"]
    minutes = info.get("fundingInterval")
    return StatedTerms(int(minutes) * 60_000 if minutes else None,
                       _number(info.get("upperFundingRate")), _number(info.get("lowerFundingRate")),
                       "bybit GET /v5/market/instruments-info upperFundingRate/lowerFundingRate")


READERS: dict[str, Callable[..., StatedTerms]] = {"binance": _binance, "okx": _okx, "bybit": _bybit}


def stated_terms(source, symbol: str, run) -> StatedTerms:
    """The terms `source` states for `symbol` now (its requests go through `run`); unknown for a venue we know no
    statement of."""
    reader = READERS.get(source.name)
    if reader is None:
        return StatedTerms(None, None, None, f"{UNKNOWN}: {source.name} states no funding caps we read")
    terms = reader(source, symbol, run)
    if terms.cap is None or terms.floor is None:
        reason = terms.caps_from if terms.caps_from.startswith(UNKNOWN) else f"{UNKNOWN}: {terms.caps_from} empty"
        return StatedTerms(terms.interval_ms, None, None, reason)
    return terms
