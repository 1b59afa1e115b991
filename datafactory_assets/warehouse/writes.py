"""Idempotent writes: a window's candles are upserted in one transaction, so a rerun never duplicates rows, a crash
never leaves a half-written window, and a later answer with holes never deletes candles already stored."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import duckdb
import polars as pl

from datafactory_assets.settings import SymbolSettings
from datafactory_assets.sources.base import RequestRecord
from datafactory_assets.warehouse.archive import refuse_archived
from datafactory_assets.warehouse.sql import transaction

_LOG_SCHEMA = {
    "requested_at": pl.Datetime("us"), "source": pl.String(), "symbol": pl.String(),
    "window_start": pl.Datetime("us"), "window_end": pl.Datetime("us"), "rows": pl.Int32(),
    "latency_ms": pl.Float64(), "outcome": pl.String(), "error_class": pl.String(), "run_id": pl.String(),
}


@dataclass(frozen=True)
class ConfirmedHoles:
    """Open times every source of the chain was asked for and none has, and which sources said so."""

    ts: pl.Series
    sources: str


def upsert_candles(conn: duckdb.DuckDBPyConnection, frame: pl.DataFrame, *, symbol: SymbolSettings,
                   requests: Sequence[RequestRecord] = (), run_id: str | None = None,
                   holes: ConfirmedHoles | None = None) -> int:
    """Insert the frame's candles, replacing stored ones at the same open time; log the requests and record the
    confirmed holes in the same commit.

    Stored candles the frame lacks stay: a venue that answers with holes today does not erase what it served before,
    and a minute we hold a candle for is never recorded as a hole. A candle arriving for a known hole replaces it.
    Candles or holes in an archived month raise ArchivedMonthError before anything is written.
    """
    incoming = frame.sort("ts").with_columns(ingested_at=pl.lit(_utcnow(), pl.Datetime("us")))
    for stamps in (incoming["ts"], holes.ts if holes is not None else pl.Series()):
        if stamps.len():
            refuse_archived(conn, symbol.symbol, stamps.min(), stamps.max())
    with transaction(conn):
        conn.execute(
            "INSERT OR REPLACE INTO symbols (symbol, timeframe_ms, start_ts) VALUES (?, ?, ?)",  # keeps listed_ts
            [symbol.symbol, symbol.timeframe_ms, symbol.start.replace(tzinfo=None)],
        )
        if incoming.height:
            conn.register("incoming_candles", incoming)
            conn.execute(
                "DELETE FROM candles WHERE symbol = ? AND ts BETWEEN ? AND ? "
                "AND ts IN (SELECT ts FROM incoming_candles)",
                [symbol.symbol, incoming["ts"].min(), incoming["ts"].max()],
            )
            conn.execute(
                "INSERT INTO candles SELECT symbol, ts, open, high, low, close, volume, source, ingested_at "
                "FROM incoming_candles"
            )
            conn.execute(
                "DELETE FROM known_gaps WHERE symbol = ? AND ts BETWEEN ? AND ? "
                "AND ts IN (SELECT ts FROM incoming_candles)",
                [symbol.symbol, incoming["ts"].min(), incoming["ts"].max()],
            )
            conn.unregister("incoming_candles")
        if holes is not None and holes.ts.len():
            _record_holes(conn, symbol.symbol, holes)
        _insert_log(conn, requests, run_id)
    return incoming.height


def log_requests(conn: duckdb.DuckDBPyConnection, requests: Sequence[RequestRecord], run_id: str | None) -> None:
    """Record requests on their own, for runs that fail before anything is written."""
    _insert_log(conn, requests, run_id)


def _record_holes(conn: duckdb.DuckDBPyConnection, symbol: str, holes: ConfirmedHoles) -> None:
    """Count one more confirmation of each hole (a first one starts at 1); skip any minute a candle is stored for.

    One fetch is not enough (`schema.CONFIRMATIONS_NEEDED`): a venue glitch that drops candles looks like a hole
    once, so healing asks again before a hole is taken as the venue's.
    """
    confirmed = pl.DataFrame({"ts": holes.ts.cast(pl.Datetime("us"))})
    conn.register("confirmed_holes", confirmed)
    now = _utcnow()
    bounds = [symbol, confirmed["ts"].min(), confirmed["ts"].max()]
    conn.execute("UPDATE known_gaps SET confirmations = confirmations + 1, confirmed_at = ?, sources = ? "
                 "WHERE symbol = ? AND ts BETWEEN ? AND ? AND ts IN (SELECT ts FROM confirmed_holes)",
                 [now, holes.sources, *bounds])
    conn.execute(
        "INSERT INTO known_gaps (symbol, ts, confirmed_at, sources, confirmations) SELECT ?, h.ts, ?, ?, 1 "
        "FROM confirmed_holes h WHERE NOT EXISTS (SELECT 1 FROM candles c WHERE c.symbol = ? AND c.ts = h.ts) "
        "AND NOT EXISTS (SELECT 1 FROM known_gaps k WHERE k.symbol = ? AND k.ts = h.ts)",
        [symbol, now, holes.sources, symbol, symbol],
    )
    conn.unregister("confirmed_holes")


def _insert_log(conn: duckdb.DuckDBPyConnection, requests: Sequence[RequestRecord], run_id: str | None) -> None:
    if not requests:
        return
    log_frame = pl.DataFrame([{**asdict(r), "run_id": run_id} for r in requests], schema=_LOG_SCHEMA)
    conn.register("incoming_log", log_frame)
    conn.execute(f"INSERT INTO ingest_log ({', '.join(_LOG_SCHEMA)}) SELECT * FROM incoming_log")
    conn.unregister("incoming_log")


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
