"""Rollup bars (1h, 1d) built in DuckDB from the base candles, one window at a time, in one transaction."""

from __future__ import annotations

from datetime import datetime

import duckdb

BUCKETS = {"1h": ("rollup_1h", "INTERVAL 1 HOUR"), "1d": ("rollup_1d", "INTERVAL 1 DAY")}


def write_rollup(conn: duckdb.DuckDBPyConnection, *, symbol: str, bucket: str, start: datetime,
                 end: datetime) -> int:
    """Recompute the symbol's `bucket` bars whose open time lies in [start, end) from `candles`; returns bars.

    Bars are derived data, so the window is replaced whole: a bar always reflects the candles stored now.
    """
    table, interval = BUCKETS[bucket]
    window = [symbol, start.replace(tzinfo=None), end.replace(tzinfo=None)]
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(f"DELETE FROM {table} WHERE symbol = ? AND ts >= ? AND ts < ?", window)
        conn.execute(
            f"INSERT INTO {table} SELECT symbol, time_bucket({interval}, ts) AS bar, arg_min(open, ts), max(high), "
            f"min(low), arg_max(close, ts), sum(volume), count(*) FROM all_candles "
            f"WHERE symbol = ? AND ts >= ? AND ts < ? GROUP BY symbol, bar",
            window,
        )
        bars = conn.execute(f"SELECT count(*) FROM {table} WHERE symbol = ? AND ts >= ? AND ts < ?",
                            window).fetchall()[0][0]
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    return bars
