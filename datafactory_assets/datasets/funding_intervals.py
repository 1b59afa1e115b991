"""Which interval each funding event starts, read from the venue's own schedule in one answer.

No venue states its past intervals: Binance's fundingInfo, OKX's funding-rate and Bybit's instruments-info name
only the interval in force now. Their history is the schedule itself: the spacing from one event to the next. A
spacing seen twice in a row is the interval in force; a spacing seen once between others is events missing from
the answer (two 8-hour intervals with the middle event lost read 16 h once), so it keeps the interval before it and
the missing event stays a gap rather than becoming a false interval change. A spacing equal to the interval the
venue states now counts on its own (an answer that ends one event into a new interval). Where the answer shows no
spacing at all, the stated interval, or Binance's default of 8 hours (the interval of every instrument its
fundingInfo does not list), applies.
"""

from __future__ import annotations

import polars as pl

DEFAULT_INTERVAL_MS = 8 * 3_600_000


def with_intervals(events: pl.DataFrame, *, stated_ms: int | None = None) -> pl.DataFrame:
    """`events` (sorted by `slot_ms`) with `interval_ms`: the interval from each event to the next, as above."""
    spacing = pl.col("slot_ms").shift(-1) - pl.col("slot_ms")
    framed = events.with_columns(spacing=spacing)
    repeated = (pl.col("spacing") == pl.col("spacing").shift(1)) | (pl.col("spacing") == pl.col("spacing").shift(-1))
    if stated_ms is not None:
        repeated = repeated | (pl.col("spacing") == stated_ms)
    confirmed = pl.when(repeated.fill_null(False)).then(pl.col("spacing"))
    fallback = stated_ms or DEFAULT_INTERVAL_MS
    return framed.with_columns(
        interval_ms=confirmed.forward_fill().backward_fill().fill_null(fallback).cast(pl.Int64)
    ).drop("spacing")
