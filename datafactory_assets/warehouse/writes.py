"""Idempotent writes: a window's candles are upserted in one transaction, so a rerun never duplicates rows, a crash
never leaves a half-written window, a later answer with holes never deletes candles already stored, a lower-ranked
source never replaces a better one's candle, and no stored candle changes without its old values kept."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import duckdb
import polars as pl

from datafactory_assets.settings import SymbolSettings
from datafactory_assets.sources.base import RequestRecord
from datafactory_assets.warehouse.archive import refuse_archived
from datafactory_assets.warehouse.precedence import history_rewrites, replacement
from datafactory_assets.warehouse.schema import CONFIRMATION_SPACING
from datafactory_assets.warehouse.sql import transaction

_LOG_SCHEMA = {
    "requested_at": pl.Datetime("us"), "source": pl.String(), "symbol": pl.String(),
    "window_start": pl.Datetime("us"), "window_end": pl.Datetime("us"), "rows": pl.Int32(),
    "latency_ms": pl.Float64(), "outcome": pl.String(), "error_class": pl.String(), "run_id": pl.String(),
}
_STORED_VALUES = "open, high, low, close, volume, source, ingested_at"
_REVISION_COLUMNS = ("symbol, ts, old_open, old_high, old_low, old_close, old_volume, old_source, old_ingested_at, "
                     "new_open, new_high, new_low, new_close, new_volume, new_source, run_id, revised_at")


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


@dataclass(frozen=True)
class CandleWrite:
    """What one upsert did with its candles: `rows` arrived; of those held already with other values, `revised`
    replaced the stored candle (kept in `candle_revisions`) and `refused` did not (a lower-ranked source, or one in
    another quote currency); `history_rewrites` of the revisions are a venue changing its own candles older than a
    day."""

    rows: int
    revised: int = 0
    refused: int = 0
    history_rewrites: int = 0


def upsert_candles(conn: duckdb.DuckDBPyConnection, frame: pl.DataFrame, *, symbol: SymbolSettings,
                   requests: Sequence[RequestRecord] = (), run_id: str | None = None,
                   holes: ConfirmedHoles | None = None, fill_only: Collection[str] = ()) -> CandleWrite:
    """Insert the frame's candles where nothing is held, replace stored ones the precedence rules let it replace
    (keeping each replaced row in `candle_revisions`), log the requests and record the confirmed holes, all in the
    same commit.

    `fill_only` names the sources that may only fill minutes not held (another quote currency). Stored candles the
    frame lacks stay: a venue that answers with holes today does not erase what it served before, and a minute we
    hold a candle for is never recorded as a hole. A candle arriving for a known hole replaces it. Candles or holes
    in an archived month raise ArchivedMonthError before anything is written.
    """
    now = _utcnow()
    incoming = frame.sort("ts").with_columns(ingested_at=pl.lit(now, pl.Datetime("us")))
    for stamps in (incoming["ts"], holes.ts if holes is not None else pl.Series()):
        if stamps.len():
            refuse_archived(conn, symbol.symbol, stamps.min(), stamps.max())
    outcome = CandleWrite(rows=incoming.height)
    with transaction(conn):
        conn.execute(_UPSERT_SYMBOL, [symbol.symbol, symbol.timeframe_ms, symbol.start.replace(tzinfo=None)])
        if incoming.height:
            outcome = _replace_candles(conn, incoming, symbol=symbol, fill_only=fill_only, run_id=run_id, now=now)
            conn.register("incoming_candles", incoming)
            conn.execute(
                "DELETE FROM known_gaps WHERE symbol = ? AND ts BETWEEN ? AND ? "
                "AND ts IN (SELECT ts FROM incoming_candles)",
                [symbol.symbol, incoming["ts"].min(), incoming["ts"].max()],
            )
            conn.unregister("incoming_candles")
        if holes is not None and holes.ts.len():
            _record_holes(conn, symbol.symbol, holes)
        _insert_log(conn, requests, run_id)
    return outcome


def _replace_candles(conn: duckdb.DuckDBPyConnection, incoming: pl.DataFrame, *, symbol: SymbolSettings,
                     fill_only: Collection[str], run_id: str | None, now: datetime) -> CandleWrite:
    """Within the caller's transaction: store what `precedence.replacement` lets the incoming candles store, and
    keep every replaced row in `candle_revisions`. Identical candles are neither deleted nor inserted."""
    bounds = [symbol.symbol, incoming["ts"].min(), incoming["ts"].max()]
    stored = conn.sql(f"SELECT ts, {_STORED_VALUES} FROM candles WHERE symbol = ? AND ts BETWEEN ? AND ?",
                      params=bounds).pl()
    decided = replacement(incoming, stored, chain=symbol.sources, fill_only=fill_only)
    if decided.revisions.height:
        revisions = decided.revisions.with_columns(symbol=pl.lit(symbol.symbol), run_id=pl.lit(run_id, pl.String()),
                                                   revised_at=pl.lit(now, pl.Datetime("us")))
        conn.register("incoming_revisions", revisions)
        conn.execute(f"INSERT INTO candle_revisions ({_REVISION_COLUMNS}) SELECT {_REVISION_COLUMNS} "
                     "FROM incoming_revisions")
        conn.execute("DELETE FROM candles WHERE symbol = ? AND ts BETWEEN ? AND ? "
                     "AND ts IN (SELECT ts FROM incoming_revisions)", bounds)
        conn.unregister("incoming_revisions")
    if decided.write.height:
        conn.register("written_candles", decided.write)
        conn.execute(f"INSERT INTO candles SELECT symbol, ts, {_STORED_VALUES} FROM written_candles")
        conn.unregister("written_candles")
    return CandleWrite(rows=incoming.height, revised=decided.revisions.height, refused=decided.refused,
                       history_rewrites=history_rewrites(decided.revisions, now=now))


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
