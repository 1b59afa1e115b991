"""Missing candles inside a window, as ranges: a fact to record, not an error."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl


def missing_times(ts: pl.Series, *, start: datetime, end: datetime, timeframe_ms: int) -> pl.Series:
    """The expected open times in [start, end) with no candle, oldest first (naive UTC)."""
    start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    step = timedelta(milliseconds=timeframe_ms)
    if end <= start:
        return pl.Series("ts", [], pl.Datetime("us"))
    expected = pl.datetime_range(start, end - step, interval=step, time_unit="us", eager=True).alias("ts")
    absent = pl.DataFrame(expected).join(pl.DataFrame(ts.cast(pl.Datetime("us")).alias("ts")), on="ts", how="anti")
    return absent["ts"].sort()


def missing_ranges(ts: pl.Series, *, start: datetime, end: datetime, timeframe_ms: int) -> pl.DataFrame:
    """Ranges of expected open times in [start, end) with no candle: columns first_missing, last_missing, missing."""
    absent = pl.DataFrame(missing_times(ts, start=start, end=end, timeframe_ms=timeframe_ms))
    return (
        absent
        .with_columns(run=(pl.col("ts").dt.epoch("ms") // timeframe_ms) - pl.int_range(pl.len()))
        .group_by("run", maintain_order=True)
        .agg(first_missing=pl.col("ts").min(), last_missing=pl.col("ts").max(), missing=pl.len())
        .drop("run")
        .with_columns(pl.col("missing").cast(pl.Int64))
    )
