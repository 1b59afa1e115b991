"""Funding-event validation as pure functions over the funding frame: each rule counts its offenders and names one.

Caps: a venue clamps every rate to its instrument's cap and floor, and states them (`sources.funding_terms`: Binance's
fundingInfo for the instruments it adjusted, OKX's funding-rate, Bybit's instruments-info). Each event carries the
caps its venue stated when it was fetched (`rate_cap`, `rate_floor`, `caps_from`), so an event filled in from another
venue is held to that venue's caps. A rate beyond them is a data error whatever the band: the venue never paid it.
Where a venue's caps are unknown (a Binance instrument never adjusted: its default cap, 0.75 x its first leverage
bracket's maintenance margin rate, is stated only to signed requests), a rate beyond +-`RATE_CAP`, the widest cap
those venues list (Binance's fundingInfo: +-3 % for some small instruments), is.

A venue states only the caps in force now, and no venue publishes their history. They are applied to every event
fetched with them, old ones included: a cap the venue has since lowered would refuse an older event it paid beyond
today's cap (the message names the cap and its source, so such a refusal is told from bad data); a widened cap
refuses nothing (Binance raised OGNUSDT's to +-3 % on 2023-10-01, and lists 4-hour instruments at +-2 % and +-3 %).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import polars as pl

from datafactory_assets.checks.validation import Violation, violations_of

RATE_CAP = 0.03
# How far before a window its previous event is looked for: three of the longest interval (8 h), so one event lost
# before the window still leaves one to count from.
EVENT_LOOKBACK = timedelta(hours=24)
BEYOND_CAP = "rate_beyond_cap"


def validate_funding(frame: pl.DataFrame, *, start: datetime, end: datetime,
                     timeframe_ms: int | None = None) -> list[Violation]:
    """Every rule a stored funding event must satisfy; an empty list means the frame may be written.

    Rules: no nulls but the mark price and the caps; a finite rate within the caps its venue stated
    (`rate_cap`/`rate_floor`), or within +-RATE_CAP where they are unknown; a positive mark price where given; an
    interval of whole hours; the funding time on the instrument's interval (a multiple of it since the epoch, as
    every venue schedules) and inside [start, end); one event per funding time. A rate beyond its caps is named
    with the cap and where it came from. `timeframe_ms` is unused: the interval is each row's own."""
    start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    epoch_ms = pl.col("ts").dt.epoch("ms")
    rules: dict[str, pl.Expr] = {
        "null_value": pl.any_horizontal(pl.col("ts", "rate", "interval_ms", "venue_ts").is_null()),
        BEYOND_CAP: ~pl.col("rate").is_finite() | (pl.col("rate") > _cap()) | (pl.col("rate") < _floor()),
        "non_positive_mark_price": pl.col("mark_price") <= 0,
        "interval_not_whole_hours": (pl.col("interval_ms") <= 0) | (pl.col("interval_ms") % 3_600_000 != 0),
        "off_interval": epoch_ms % pl.col("interval_ms") != 0,
        "outside_window": (pl.col("ts") < start) | (pl.col("ts") >= end),
        "duplicate_timestamp": pl.col("ts").is_duplicated(),
    }
    return [replace(v, detail=_beyond_cap(frame, rules[BEYOND_CAP])) if v.rule == BEYOND_CAP else v
            for v in violations_of(frame, rules)]


def _cap() -> pl.Expr:
    return pl.col("rate_cap").fill_null(RATE_CAP)


def _floor() -> pl.Expr:
    return pl.col("rate_floor").fill_null(-RATE_CAP)


def _beyond_cap(frame: pl.DataFrame, offending: pl.Expr) -> str:
    """The first offending event's rate, the bounds it broke and who stated them."""
    rate, cap, floor, stated, caps_from = frame.sort("ts").filter(offending.fill_null(False)).select(
        "rate", _cap().alias("cap"), _floor().alias("floor"), pl.col("rate_cap").is_not_null().alias("stated"),
        "caps_from").row(0)
    bounds = f"cap {cap:+.8g} / floor {floor:+.8g}"
    if stated:
        return f"rate {rate:+.8g} beyond the {bounds} stated by {caps_from}"
    return f"rate {rate:+.8g} beyond the flat {bounds}; the venue's own caps: {caps_from or 'unknown'}"


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
