"""Rollup bars (1h, 1d) built in DuckDB from the base candles, one window at a time, in one transaction."""

from __future__ import annotations

from datetime import datetime

import duckdb

from datafactory_assets.warehouse.schema import BAR_COLUMNS
from datafactory_assets.warehouse.sql import transaction

BUCKETS = {"1h": ("rollup_1h", "INTERVAL 1 HOUR"), "1d": ("rollup_1d", "INTERVAL 1 DAY")}


def write_rollup(conn: duckdb.DuckDBPyConnection, *, symbol: str, bucket: str, start: datetime,
                 end: datetime) -> int:
    """Recompute the symbol's `bucket` bars whose open time lies in [start, end) from `candles`; returns bars.

    Bars are derived data, so the window is replaced whole: a bar always reflects the candles stored now.
    """
    table, interval = BUCKETS[bucket]
    window = [symbol, start.replace(tzinfo=None), end.replace(tzinfo=None)]
    with transaction(conn):
        conn.execute(f"DELETE FROM {table} WHERE symbol = ? AND ts >= ? AND ts < ?", window)
        bars = conn.execute(
            f"INSERT INTO {table} SELECT symbol, time_bucket({interval}, ts) AS bar, {BAR_COLUMNS} FROM all_candles "
            "WHERE symbol = ? AND ts >= ? AND ts < ? GROUP BY symbol, bar",
            window,
        ).fetchall()[0][0]
    return bars
