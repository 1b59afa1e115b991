"""Read-side queries the CLI, checks and tests share."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from datafactory_assets.warehouse.schema import CONFIRMATIONS_NEEDED


def coverage(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per symbol: first and last candle, rows, expected, completeness (confirmed holes count as complete: there is
    nothing more to have), open gaps, missing and confirmed-empty candles (the seed's coverage table)."""
    return conn.sql("SELECT * FROM coverage").pl()


def source_health(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per source over the last 24 hours: requests, success rate, p50/p95/max latency, errors, last error."""
    return conn.sql("SELECT * FROM source_health").pl()


def source_health_hourly(conn: duckdb.DuckDBPyConnection, hour: datetime | None = None) -> pl.DataFrame:
    """Per source and hour (UTC): requests, success rate, p50/p95/max latency, errors and their classes; one hour's
    rows when `hour` is given, else every hour, newest first."""
    if hour is None:
        return conn.sql("SELECT * FROM source_health_hourly ORDER BY hour DESC, source").pl()
    return conn.sql("SELECT * FROM source_health_hourly WHERE hour = ? ORDER BY source",
                    params=[hour.replace(tzinfo=None)]).pl()


def gaps(conn: duckdb.DuckDBPyConnection, symbol: str | None = None) -> pl.DataFrame:
    """Missing candle ranges (inclusive first/last missing open time) with how many of their candles every source
    confirmed empty, optionally for one symbol."""
    if symbol is None:
        return conn.sql("SELECT * FROM gap_status ORDER BY symbol, first_missing").pl()
    return conn.sql("SELECT * FROM gap_status WHERE symbol = ? ORDER BY first_missing", params=[symbol]).pl()


def incomplete_hours(conn: duckdb.DuckDBPyConnection, symbol: str, *, start: datetime, until: datetime,
                     per_hour: int) -> list[datetime]:
    """Hours in [start, until) holding fewer than `per_hour` candles once confirmed holes are counted as held:
    missing, failed or cut short, and still worth asking a source for. Naive UTC hour starts, oldest first."""
    bounds = [start.replace(tzinfo=None), until.replace(tzinfo=None)]
    rows = conn.execute(
        """
        WITH held AS (
            SELECT time_bucket(INTERVAL 1 HOUR, ts) AS hour, count(*) AS n FROM all_candles
            WHERE symbol = $symbol AND ts >= $start AND ts < $until GROUP BY 1
            UNION ALL
            SELECT time_bucket(INTERVAL 1 HOUR, ts) AS hour, count(*) AS n FROM known_gaps
            WHERE symbol = $symbol AND ts >= $start AND ts < $until AND confirmations >= $needed GROUP BY 1
        ), per_hour AS (SELECT hour, sum(n) AS n FROM held GROUP BY hour)
        SELECT h.hour FROM range($start::TIMESTAMP, $until::TIMESTAMP, INTERVAL 1 HOUR) AS h(hour)
        LEFT JOIN per_hour p ON p.hour = h.hour
        WHERE coalesce(p.n, 0) < $per_hour
        ORDER BY h.hour
        """,
        {"symbol": symbol, "start": bounds[0], "until": bounds[1], "per_hour": per_hour,
         "needed": CONFIRMATIONS_NEEDED},
    ).fetchall()
    return [row[0] for row in rows]


def confirmed_holes(conn: duckdb.DuckDBPyConnection, symbol: str, start: datetime, end: datetime) -> int:
    """How many open times of [start, end) every source has confirmed empty, often enough to stop asking."""
    return conn.execute(
        "SELECT count(*) FROM known_gaps WHERE symbol = ? AND ts >= ? AND ts < ? AND confirmations >= ?",
        [symbol, start.replace(tzinfo=None), end.replace(tzinfo=None), CONFIRMATIONS_NEEDED],
    ).fetchall()[0][0]


def window_candles(conn: duckdb.DuckDBPyConnection, symbol: str, start: datetime, end: datetime) -> pl.DataFrame:
    """The stored candles of one symbol with open time in [start, end), oldest first."""
    return conn.sql(
        "SELECT * FROM all_candles WHERE symbol = ? AND ts >= ? AND ts < ? ORDER BY ts",
        params=[symbol, start.replace(tzinfo=None), end.replace(tzinfo=None)],
    ).pl()


def stored_candles(conn: duckdb.DuckDBPyConnection, symbol: str, *, start: datetime, until: datetime) -> int:
    """How many candles of one symbol are stored (table or archive) with open time in [start, until)."""
    return conn.execute("SELECT count(*) FROM all_candles WHERE symbol = ? AND ts >= ? AND ts < ?",
                        [symbol, start.replace(tzinfo=None), until.replace(tzinfo=None)]).fetchall()[0][0]


def fresh_database_path(directory: Path, now: datetime) -> Path:
    """`crypto_data_YYYYMMDD_HHMMSS.duckdb` in `directory`, the seed's name for a brand-new database."""
    return directory / f"crypto_data_{now:%Y%m%d_%H%M%S}.duckdb"
