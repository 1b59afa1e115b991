"""Rollup bars (1h, 1d) built in DuckDB from an OHLCV dataset's base rows, one window at a time, in one transaction."""

from __future__ import annotations

from datetime import datetime

import duckdb

from datafactory_assets.datasets import SPOT_CANDLES, Dataset
from datafactory_assets.warehouse.sql import transaction
from datafactory_assets.warehouse.views import BAR_COLUMNS, BUCKETS, rollup_table


def write_rollup(conn: duckdb.DuckDBPyConnection, *, symbol: str, bucket: str, start: datetime,
                 end: datetime, dataset: Dataset = SPOT_CANDLES) -> int:
    """Recompute the symbol's `bucket` bars whose open time lies in [start, end) from the dataset's rows (spot
    candles when not given) into its rollup table (`views.rollup_table`); returns bars.

    Bars are derived data, so the window is replaced whole: a bar always reflects the candles stored now.
    """
    table, interval = rollup_table(dataset, bucket), BUCKETS[bucket]
    window = [symbol, start.replace(tzinfo=None), end.replace(tzinfo=None)]
    with transaction(conn):
        conn.execute(f"DELETE FROM {table} WHERE symbol = ? AND ts >= ? AND ts < ?", window)
        bars = conn.execute(
            f"INSERT INTO {table} SELECT symbol, time_bucket({interval}, ts) AS bar, {BAR_COLUMNS} "
            f"FROM {dataset.view} WHERE symbol = ? AND ts >= ? AND ts < ? GROUP BY symbol, bar",
            window,
        ).fetchall()[0][0]
    return bars
