"""Missing candles inside a window, as ranges: a fact to record, not an error."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl


def missing_ranges(ts: pl.Series, *, start: datetime, end: datetime, timeframe_ms: int) -> pl.DataFrame:
    """Ranges of expected open times in [start, end) with no candle: columns first_missing, last_missing, missing."""
    start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    step = timedelta(milliseconds=timeframe_ms)
    expected = pl.datetime_range(start, end - step, interval=step, time_unit="us", eager=True).alias("ts")
    absent = pl.DataFrame(expected).join(pl.DataFrame(ts.cast(pl.Datetime("us")).alias("ts")), on="ts", how="anti")
    return (
        absent.sort("ts")
        .with_columns(run=(pl.col("ts").dt.epoch("ms") // timeframe_ms) - pl.int_range(pl.len()))
        .group_by("run", maintain_order=True)
        .agg(first_missing=pl.col("ts").min(), last_missing=pl.col("ts").max(), missing=pl.len())
        .drop("run")
        .with_columns(pl.col("missing").cast(pl.Int64))
    )
