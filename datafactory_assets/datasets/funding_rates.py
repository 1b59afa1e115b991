"""Funding rates of USDⓈ-M perpetuals: every funding event, with the interval the instrument funded at.

A row is one event: `ts` its slot (the venue's time floored to the hour: Binance stamps a settlement a few
milliseconds past its hour, `1768953600001`, and every venue's intervals are whole hours), `venue_ts` the venue's
own time, kept because it is what the venue said and costs one column, `rate`, `mark_price` (Binance sends it with
each event; OKX and Bybit send none, so it is nullable), `interval_ms`, the interval in force from this event to
the next (`funding_intervals`: read from the spacing of the venue's own schedule, the venue's stated interval where
the answer shows too little). The stored `interval_ms` is the interval timeline: where it changes, the new interval
took effect (the view `funding_rates_intervals`), and gaps and coverage count the slots of the interval in force at
each time (`datasets.slots`). Named `interval_ms`, not `interval`, which is an SQL keyword. `rate_cap`,
`rate_floor` and `caps_from` are the caps the venue stated for the instrument when the event was fetched
(`sources.funding_terms`) and where it stated them, or why they are unknown (caps null, `caps_from` "unknown: ..."):
the bounds the event was validated against (`checks.funding`), kept with it. Rows stored before they existed hold
nulls. They are not compared by revisions: a venue restating its caps does not revise an event.

Venues, their rows per request and depth (the emulator cites each answer it serves):
- Binance USDⓈ-M, `GET /fapi/v1/fundingRate` (developers.binance.com/docs/derivatives/usds-margined-futures/
  market-data/rest-api/Get-Funding-Rate-History): limit default 100, max 1000, ascending from `startTime`, the whole
  history since the listing; it shares 500 requests per 5 minutes per IP with fundingInfo.
- OKX, `GET /api/v5/public/funding-rate-history`: limit max 100, newest first, "can retrieve data from the last 3
  months" (docs-v5 #public-data-rest-api-get-funding-rate-history): depth 90 days. ccxt sends only `before`, so our
  `until` goes as OKX's own `after` (exclusive) to page a window.
- Bybit, `GET /v5/market/funding/history` (docs/v5/market/history-fund-rate.mdx): limit [1, 200], newest first up to
  `endTime`, back to the instrument's launch.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

import polars as pl

from datafactory_assets.checks.funding import validate_funding
from datafactory_assets.checks.names import GAPS, VALIDATION
from datafactory_assets.datasets.declaration import Cadence, Dataset, VenueEndpoint
from datafactory_assets.datasets.funding_intervals import with_intervals

if TYPE_CHECKING:
    from datafactory_assets.sources.funding_terms import StatedTerms

UNKNOWN = "unknown"  # how `caps_from` begins where a venue's caps are not known

HOUR_MS = 3_600_000

FUNDING_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "ts": pl.Datetime("us"),
    "rate": pl.Float64(),
    "mark_price": pl.Float64(),
    "interval_ms": pl.Int64(),
    "venue_ts": pl.Datetime("us"),
    "source": pl.String(),
    "rate_cap": pl.Float64(),
    "rate_floor": pl.Float64(),
    "caps_from": pl.String(),
}


def funding_from_rows(rows: Sequence[dict], *, symbol: str, source: str,
                      terms: StatedTerms | None = None) -> pl.DataFrame:
    """The frame from ccxt's funding-rate-history structures (`timestamp`, `fundingRate`, `info`), oldest first,
    each event's interval read from the answer's schedule (`funding_intervals.with_intervals`, the interval the
    venue states in `terms` where the schedule shows too little), each with the caps `terms` states (none given:
    unknown). The mark price is Binance's `info.markPrice`."""
    if not rows:
        return pl.DataFrame(schema=FUNDING_SCHEMA)
    venue_ms = [row["timestamp"] for row in rows]
    marks = [(row.get("info") or {}).get("markPrice") for row in rows]
    frame = pl.DataFrame({
        "venue_ms": venue_ms, "rate": [row["fundingRate"] for row in rows],
        "mark_price": [None if mark in (None, "") else float(mark) for mark in marks],
    }, schema={"venue_ms": pl.Int64, "rate": pl.Float64, "mark_price": pl.Float64})
    frame = frame.with_columns(slot_ms=pl.col("venue_ms") // HOUR_MS * HOUR_MS).sort("slot_ms")
    frame = with_intervals(frame, stated_ms=terms.interval_ms if terms else None)
    caps_from = terms.caps_from if terms else f"{UNKNOWN}: {source} stated no terms with this answer"
    return frame.select(
        pl.lit(symbol, pl.String()).alias("symbol"),
        pl.from_epoch("slot_ms", time_unit="ms").cast(pl.Datetime("us")).alias("ts"),
        "rate", "mark_price", "interval_ms",
        pl.from_epoch("venue_ms", time_unit="ms").cast(pl.Datetime("us")).alias("venue_ts"),
        pl.lit(source, pl.String()).alias("source"),
        pl.lit(terms.cap if terms else None, pl.Float64()).alias("rate_cap"),
        pl.lit(terms.floor if terms else None, pl.Float64()).alias("rate_floor"),
        pl.lit(caps_from, pl.String()).alias("caps_from"),
    )


FUNDING_RATES = Dataset(
    name="funding_rates",
    table="funding_rates",
    schema=FUNDING_SCHEMA,
    keys=("symbol", "ts"),
    values=("rate", "mark_price", "interval_ms", "venue_ts"),
    cadence=Cadence(venue_interval=True),
    validate=validate_funding,
    venues={
        "binance": VenueEndpoint(call="fetch_funding_rate_history", limit=1000),
        "okx": VenueEndpoint(call="fetch_funding_rate_history", limit=100, depth=timedelta(days=90)),
        "bybit": VenueEndpoint(call="fetch_funding_rate_history", limit=200),
    },
    market="swap",
    nullable=frozenset({"mark_price", "rate_cap", "rate_floor", "caps_from"}),
    from_rows=funding_from_rows,
    checks={
        VALIDATION: "Rates within the caps their venue states for the instrument (the flat +-3 % band where the "
                    "venue's caps are unknown), funding times on the instrument's interval, no duplicates, no "
                    "nulls but the mark price.",
        GAPS: "Funding events missing between stored ones, at the interval in force at each time.",
    },
    description="Funding events of {symbol} whose funding time lies in the partition's hour (most hours hold none).",
    unit="funding event",
)
