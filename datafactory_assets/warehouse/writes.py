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
from datafactory_assets.warehouse.schema import CONFIRMATION_SPACING
from datafactory_assets.warehouse.sql import transaction

_LOG_SCHEMA = {
    "requested_at": pl.Datetime("us"), "source": pl.String(), "symbol": pl.String(),
    "window_start": pl.Datetime("us"), "window_end": pl.Datetime("us"), "rows": pl.Int32(),
    "latency_ms": pl.Float64(), "outcome": pl.String(), "error_class": pl.String(), "run_id": pl.String(),
}


@dataclass(frozen=True)
class ConfirmedHoles:
    """Open times every source of the chain was asked for and none has, which sources said so, and per open time
    what the hole means where the venue says (null where unknown)."""

    ts: pl.Series
    sources: str
    reason: pl.Series  # String, null where unknown


# The symbol's row keeps the listing a run found (`listed_ts`) when a later run writes its settings again.
_UPSERT_SYMBOL = ("INSERT INTO symbols (symbol, timeframe_ms, start_ts) VALUES (?, ?, ?) ON CONFLICT (symbol) "
                  "DO UPDATE SET timeframe_ms = excluded.timeframe_ms, start_ts = excluded.start_ts")


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
        conn.execute(_UPSERT_SYMBOL, [symbol.symbol, symbol.timeframe_ms, symbol.start.replace(tzinfo=None)])
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


def record_listing(conn: duckdb.DuckDBPyConnection, *, symbol: SymbolSettings, listed_ts: datetime) -> None:
    """Keep the pair's first candle as a venue dated it (`symbols.listed_ts`): no hour before it is asked for."""
    with transaction(conn):
        conn.execute(_UPSERT_SYMBOL, [symbol.symbol, symbol.timeframe_ms, symbol.start.replace(tzinfo=None)])
        conn.execute("UPDATE symbols SET listed_ts = ? WHERE symbol = ?", [listed_ts, symbol.symbol])


def _record_holes(conn: duckdb.DuckDBPyConnection, symbol: str, holes: ConfirmedHoles) -> None:
    """Count one more confirmation of each hole (a first one starts at 1, and says when); skip any minute a candle
    is stored for.

    One fetch is not enough (`schema.CONFIRMATIONS_NEEDED`): a venue glitch that drops candles looks like a hole
    once, and so do two fetches a minute apart inside one glitch, so a confirmation counts only
    `schema.CONFIRMATION_SPACING` after the last counted one (`confirmed_at`; `first_confirmed_at` keeps the first).
    """
    confirmed = pl.DataFrame({"ts": holes.ts.cast(pl.Datetime("us")), "reason": holes.reason.cast(pl.String)})
    conn.register("confirmed_holes", confirmed)
    now = _utcnow()
    bounds = [symbol, confirmed["ts"].min(), confirmed["ts"].max()]
    conn.execute(
        "UPDATE known_gaps k SET confirmations = confirmations + 1, confirmed_at = ?, sources = ?, "
        "reason = coalesce(h.reason, k.reason) FROM confirmed_holes h "
        "WHERE k.symbol = ? AND k.ts BETWEEN ? AND ? AND k.ts = h.ts AND k.confirmed_at <= ?",
        [now, holes.sources, *bounds, now - CONFIRMATION_SPACING])
    conn.execute(
        "INSERT INTO known_gaps (symbol, ts, confirmed_at, sources, confirmations, first_confirmed_at, reason) "
        "SELECT ?, h.ts, ?, ?, 1, ?, h.reason "
        "FROM confirmed_holes h WHERE NOT EXISTS (SELECT 1 FROM candles c WHERE c.symbol = ? AND c.ts = h.ts) "
        "AND NOT EXISTS (SELECT 1 FROM known_gaps k WHERE k.symbol = ? AND k.ts = h.ts)",
        [symbol, now, holes.sources, now, symbol, symbol],
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
