"""Idempotent writes: a window of one symbol is replaced in one transaction, so a rerun never duplicates rows and a
crash never leaves a half-written window."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime

import duckdb
import polars as pl

from datafactory_assets.settings import SymbolSettings
from datafactory_assets.sources.base import RequestRecord

_LOG_SCHEMA = {
    "requested_at": pl.Datetime("us"), "source": pl.String(), "symbol": pl.String(),
    "window_start": pl.Datetime("us"), "window_end": pl.Datetime("us"), "rows": pl.Int32(),
    "latency_ms": pl.Float64(), "outcome": pl.String(), "error_class": pl.String(), "run_id": pl.String(),
}


def replace_window(conn: duckdb.DuckDBPyConnection, frame: pl.DataFrame, *, symbol: SymbolSettings,
                   start: datetime, end: datetime, requests: Sequence[RequestRecord] = (),
                   run_id: str | None = None) -> int:
    """Replace the symbol's candles with open time in [start, end) by `frame`; log the requests in the same commit."""
    incoming = frame.sort("ts").with_columns(ingested_at=pl.lit(_utcnow(), pl.Datetime("us")))
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(
            "INSERT OR REPLACE INTO symbols VALUES (?, ?, ?)",
            [symbol.symbol, symbol.timeframe_ms, symbol.start.replace(tzinfo=None)],
        )
        conn.execute(
            "DELETE FROM candles WHERE symbol = ? AND ts >= ? AND ts < ?", [symbol.symbol, _naive(start), _naive(end)]
        )
        conn.register("incoming_candles", incoming)
        conn.execute(
            "INSERT INTO candles SELECT symbol, ts, open, high, low, close, volume, source, ingested_at "
            "FROM incoming_candles"
        )
        conn.unregister("incoming_candles")
        _insert_log(conn, requests, run_id)
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    return incoming.height


def log_requests(conn: duckdb.DuckDBPyConnection, requests: Sequence[RequestRecord], run_id: str | None) -> None:
    """Record requests on their own, for runs that fail before anything is written."""
    _insert_log(conn, requests, run_id)


def _insert_log(conn: duckdb.DuckDBPyConnection, requests: Sequence[RequestRecord], run_id: str | None) -> None:
    if not requests:
        return
    log_frame = pl.DataFrame([{**asdict(r), "run_id": run_id} for r in requests], schema=_LOG_SCHEMA)
    conn.register("incoming_log", log_frame)
    conn.execute(f"INSERT INTO ingest_log ({', '.join(_LOG_SCHEMA)}) SELECT * FROM incoming_log")
    conn.unregister("incoming_log")


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
