"""Funding-event validation as pure functions over the funding frame: each rule counts its offenders and names one.

Caps: a venue clamps every rate to its instrument's cap and floor. Binance sets them per instrument, 0.75 x the
maintenance margin rate of its first leverage bracket (USDⓈ-M FAQ "Introduction to Binance Futures Funding Rates":
BTCUSDT +-0.30 %), and lists the adjusted ones in fundingInfo (`adjustedFundingRateCap`, up to +-3 % for some
small instruments); Bybit states `upperFundingRate`/`lowerFundingRate` per instrument (instruments-info) and OKX
its own per-instrument bounds. We do not read each instrument's cap yet: a rate beyond +-`RATE_CAP`, the widest
cap those venues list, is a data error whatever the instrument.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from datafactory_assets.checks.validation import Violation, violations_of

RATE_CAP = 0.03
# How far before a window its previous event is looked for: three of the longest interval (8 h), so one event lost
# before the window still leaves one to count from.
EVENT_LOOKBACK = timedelta(hours=24)


def validate_funding(frame: pl.DataFrame, *, start: datetime, end: datetime,
                     timeframe_ms: int | None = None) -> list[Violation]:
    """Every rule a stored funding event must satisfy; an empty list means the frame may be written.

    Rules: no nulls but the mark price; a finite rate within +-RATE_CAP; a positive mark price where given; an
    interval of whole hours; the funding time on the instrument's interval (a multiple of it since the epoch, as
    every venue schedules) and inside [start, end); one event per funding time. `timeframe_ms` is unused: the
    interval is each row's own."""
    start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    epoch_ms = pl.col("ts").dt.epoch("ms")
    rules: dict[str, pl.Expr] = {
        "null_value": pl.any_horizontal(pl.col("ts", "rate", "interval_ms", "venue_ts").is_null()),
        "rate_beyond_cap": ~pl.col("rate").is_finite() | (pl.col("rate").abs() > RATE_CAP),
        "non_positive_mark_price": pl.col("mark_price") <= 0,
        "interval_not_whole_hours": (pl.col("interval_ms") <= 0) | (pl.col("interval_ms") % 3_600_000 != 0),
        "off_interval": epoch_ms % pl.col("interval_ms") != 0,
        "outside_window": (pl.col("ts") < start) | (pl.col("ts") >= end),
        "duplicate_timestamp": pl.col("ts").is_duplicated(),
    }
    return violations_of(frame, rules)


def missing_events(stored: pl.DataFrame, *, start: datetime, end: datetime) -> pl.DataFrame:
    """The funding times in [start, end) that were due and are not stored, as `missing_ranges` shapes them (one range
    per time): after each stored event (`stored`: an instrument's events from before `start` to `end`, oldest
    first) the next falls due one `interval_ms` later, and so on until the next stored event or `end`. Nothing is due
    before the first stored event: without an event before it, a window proves nothing."""
    start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    following = pl.col("ts").shift(-1).fill_null(end)
    due = (stored.sort("ts")
           .select(ts=pl.datetime_ranges(pl.col("ts") + pl.duration(milliseconds=pl.col("interval_ms")), following,
                                         interval="1h", closed="left"), interval_ms="interval_ms", origin="ts")
           .explode("ts").drop_nulls("ts")
           .filter(((pl.col("ts") - pl.col("origin")).dt.total_milliseconds() % pl.col("interval_ms")) == 0)
           .filter(pl.col("ts").is_between(start, end, closed="left")))
    return due.select(first_missing="ts", last_missing="ts", missing=pl.lit(1, pl.Int64))
