"""Idempotent writes of any dataset: a window's rows are upserted in one transaction, so a rerun never duplicates
rows, a crash never leaves a half-written window, a later answer with holes never deletes rows already stored, a
lower-ranked source never replaces a better one's row, and no stored row changes without its old values kept.

Which table, which keys and which values a write compares come from the dataset's declaration; the bookkeeping
rows it writes beside them (requests in `ingest_log`, holes in `known_gaps`) carry the dataset's name.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import duckdb
import polars as pl

from datafactory_assets.datasets import SPOT_CANDLES, Dataset
from datafactory_assets.settings import SymbolSettings
from datafactory_assets.sources.base import RequestRecord
from datafactory_assets.warehouse.archive import archived_month_error
from datafactory_assets.warehouse.views import CONFIRMATIONS_NEEDED
from datafactory_assets.warehouse.precedence import history_rewrites, replacement
from datafactory_assets.warehouse.schema import CONFIRMATION_SPACING
from datafactory_assets.warehouse.sql import transaction
from datafactory_assets.warehouse.tables import revision_columns, stored_columns

# ingest_log's columns a request fills, with their SQL types: the requests go in as one list per column.
_LOG_COLUMNS = {"requested_at": "TIMESTAMP", "source": "VARCHAR", "symbol": "VARCHAR", "window_start": "TIMESTAMP",
                "window_end": "TIMESTAMP", "rows": "INTEGER", "latency_ms": "DOUBLE", "outcome": "VARCHAR",
                "error_class": "VARCHAR"}
_INSERT_LOG = (f"INSERT INTO ingest_log ({', '.join(_LOG_COLUMNS)}, run_id, dataset) SELECT "
               + ", ".join(f"unnest(?::{sql_type}[])" for sql_type in _LOG_COLUMNS.values()) + ", ?, ?")


@dataclass(frozen=True)
class ConfirmedHoles:
    """Open times every source of the chain was asked for and none has, which sources said so, and per open time
    what the hole means where the venue says (null where unknown)."""

    ts: pl.Series
    sources: str
    reason: pl.Series  # String, null where unknown


# The symbol's row keeps the listing and delisting a run found (`listed_ts`, `delisted_ts`) when a later run writes
# its settings again.
_UPSERT_SYMBOL = ("INSERT INTO symbols (symbol, timeframe_ms, start_ts) VALUES (?, ?, ?) ON CONFLICT (symbol) "
                  "DO UPDATE SET timeframe_ms = excluded.timeframe_ms, start_ts = excluded.start_ts")
# ... and the delisting cleared when a row of the write opens at or after it (the last parameter: its last row's
# open, null for a write of no rows): the venue lists the pair again.
_UPSERT_SYMBOL_WRITING = (_UPSERT_SYMBOL + ", delisted_ts = CASE WHEN symbols.delisted_ts <= ?::TIMESTAMP THEN NULL "
                          "ELSE symbols.delisted_ts END")
# Whether the row already says all that (HELD), so nothing need be written, says something else (DIFFERS: the upsert)
# or is not there (ABSENT: a plain insert, a third of the upsert's cost, for every symbol's first write).
_ABSENT, _DIFFERS, _HELD = 0, 1, 2
_SYMBOL_STATE = (f"SELECT coalesce(max(CASE WHEN timeframe_ms = $timeframe_ms AND start_ts = $start_ts "
                 "AND (delisted_ts IS NULL OR $last_ts::TIMESTAMP IS NULL OR delisted_ts > $last_ts::TIMESTAMP) "
                 f"THEN {_HELD} ELSE {_DIFFERS} END), {_ABSENT}) FROM symbols WHERE symbol = $symbol")
# What a write asks before it writes, in one statement (each was one of its own, inside the lock): whether the
# symbol's row's state, the first archived month the rows or holes reach (null: none), and how many known holes
# and stored rows of the symbol lie in the rows' span (a new window of a fill holds neither, so nothing is read).
_LOOK = (f"SELECT ({_SYMBOL_STATE}), "
         "(SELECT min(month) FROM archived_months WHERE dataset = $dataset AND symbol = $symbol "
         "AND (month BETWEEN $rows_from AND $rows_to OR month BETWEEN $holes_from AND $holes_to)), "
         "(SELECT count(*) FROM known_gaps WHERE dataset = $dataset AND symbol = $symbol "
         "AND ts BETWEEN $first_ts AND $last_ts), "
         "(SELECT count(*) FROM {table} WHERE symbol = $symbol AND ts BETWEEN $first_ts AND $last_ts)")


@dataclass(frozen=True)
class _Held:
    """What `_LOOK` found."""

    symbol: int  # _ABSENT, _DIFFERS or _HELD
    archived_month: str | None
    holes: int
    rows: int


@dataclass(frozen=True)
class Upserted:
    """What one upsert did with its rows: `rows` arrived; of those held already with other values, `revised`
    replaced the stored row (kept in the dataset's revisions table) and `refused` did not (a lower-ranked source, or
    one in another quote currency); `history_rewrites` of the revisions are a venue changing its own rows older
    than a day. `span`: the rows now stored from the first row's keys to the last's, as stored (the table's columns),
    where the write knows them without reading them back (nothing was held there, so they are the rows it
    inserted); None where it does not."""

    rows: int
    revised: int = 0
    refused: int = 0
    history_rewrites: int = 0
    span: pl.DataFrame | None = None


def upsert_rows(conn: duckdb.DuckDBPyConnection, frame: pl.DataFrame, *, dataset: Dataset, symbol: SymbolSettings,
                requests: Sequence[RequestRecord] = (), run_id: str | None = None,
                holes: ConfirmedHoles | None = None, fill_only: Collection[str] = (),
                venue_symbol: str | None = None) -> Upserted:
    """Insert the frame's rows (`dataset`'s frame, one symbol's) where nothing is held, replace stored ones the
    precedence rules let it replace (keeping each replaced row in the dataset's revisions table), log the requests
    and record the confirmed holes, all in the same commit.

    `fill_only` names the sources that may only fill keys not held (another quote currency). Stored rows the frame
    lacks stay: a venue that answers with holes today does not erase what it served before, and a time we hold a
    row for is never recorded as a hole. A row arriving for a known hole replaces it. Rows or holes in an archived
    month raise ArchivedMonthError before anything is written. A row after the symbol's recorded delisting clears it
    (`symbols.delisted_ts`): the venue lists the pair again, so coverage and healing treat it as live. The dataset's
    tables exist: `schema.ensure_schema` creates them for every registered dataset when it opens the file. A renamed
    instrument's rows say which venue symbol served them (`venue_symbol`, kept in `venue_symbols` over the span of the
    frame).
    """
    now = _utcnow()
    incoming = frame.sort(list(dataset.row_keys)).with_columns(ingested_at=pl.lit(now, pl.Datetime("us")))
    outcome = Upserted(rows=incoming.height)
    with transaction(conn):
        held = _look(conn, incoming, dataset=dataset, symbol=symbol, holes=holes)
        if held.archived_month is not None:
            raise archived_month_error(symbol.symbol, held.archived_month)
        if held.symbol != _HELD:
            _write_symbol(conn, symbol, state=held.symbol, last_ts=incoming["ts"].max())
        if incoming.height:
            outcome = _replace_rows(conn, incoming, dataset=dataset, symbol=symbol, fill_only=fill_only,
                                    run_id=run_id, now=now, held=held.rows)
            if not held.rows:
                outcome = replace(outcome, span=incoming.select(stored_columns(dataset)))
            if held.holes:
                _forget_holes(conn, incoming, dataset=dataset, symbol=symbol.symbol)
            if symbol.renamed_from and venue_symbol is not None:
                conn.execute("INSERT INTO venue_symbols VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [dataset.name, symbol.symbol, venue_symbol, incoming["ts"].min(), incoming["ts"].max(),
                              run_id, now])
        if holes is not None and holes.ts.len():
            _record_holes(conn, symbol.symbol, holes, dataset=dataset)
        _insert_log(conn, requests, run_id, dataset=dataset)
    return outcome


def _look(conn: duckdb.DuckDBPyConnection, incoming: pl.DataFrame, *, dataset: Dataset, symbol: SymbolSettings,
          holes: ConfirmedHoles | None) -> _Held:
    """`_LOOK` for the incoming rows (and holes) of `symbol`; an empty span (no rows, or no holes) reaches no month
    and holds nothing."""
    stamps, hole_stamps = incoming["ts"], holes.ts if holes is not None else pl.Series([], dtype=pl.Datetime("us"))
    months = {}
    for name, span in (("rows", stamps), ("holes", hole_stamps)):
        first, last = (span.min(), span.max()) if span.len() else (None, None)
        months[f"{name}_from"], months[f"{name}_to"] = (f"{first:%Y-%m}", f"{last:%Y-%m}") if first else (None, None)
    row = conn.execute(_LOOK.format(table=dataset.table), {
        "symbol": symbol.symbol, "timeframe_ms": symbol.timeframe_ms, "start_ts": symbol.start.replace(tzinfo=None),
        "first_ts": stamps.min(), "last_ts": stamps.max(), "dataset": dataset.name, **months,
    }).fetchall()[0]
    return _Held(symbol=row[0], archived_month=row[1], holes=row[2], rows=row[3])


def _keep_symbol(conn: duckdb.DuckDBPyConnection, symbol: SymbolSettings) -> None:
    """Within the caller's transaction: the symbol's row with its settings. Asked first, since it nearly always holds
    them already: the upsert costs several times the look (its key's index), even when it changes nothing, and leaves
    the table for the checkpoint at close to write again, both inside the lock every writer waits for."""
    settings = {"symbol": symbol.symbol, "timeframe_ms": symbol.timeframe_ms,
                "start_ts": symbol.start.replace(tzinfo=None), "last_ts": None}
    state = conn.execute(_SYMBOL_STATE, settings).fetchall()[0][0]
    if state != _HELD:
        _write_symbol(conn, symbol, state=state)


def _write_symbol(conn: duckdb.DuckDBPyConnection, symbol: SymbolSettings, *, state: int,
                  last_ts: datetime | None = None) -> None:
    """The symbol's row with its settings, and no delisting before `last_ts` (the last row a write stores), its
    `state` as `_SYMBOL_STATE` found it (not `_HELD`)."""
    settings = [symbol.symbol, symbol.timeframe_ms, symbol.start.replace(tzinfo=None)]
    if state == _ABSENT:
        conn.execute("INSERT INTO symbols (symbol, timeframe_ms, start_ts) VALUES (?, ?, ?)", settings)
    else:
        conn.execute(_UPSERT_SYMBOL_WRITING, [*settings, last_ts])


def _forget_holes(conn: duckdb.DuckDBPyConnection, incoming: pl.DataFrame, *, dataset: Dataset, symbol: str) -> None:
    """Within the caller's transaction: no hole is known any longer where a row arrives. Called only when a hole of
    the symbol lies in the rows' span (rarely: `_LOOK` counts them), since the match costs several times the count."""
    conn.register("incoming_rows", incoming.select("ts"))
    conn.execute("DELETE FROM known_gaps WHERE dataset = ? AND symbol = ? AND ts BETWEEN ? AND ? "
                 "AND ts IN (SELECT ts FROM incoming_rows)",
                 [dataset.name, symbol, incoming["ts"].min(), incoming["ts"].max()])
    conn.unregister("incoming_rows")


def upsert_candles(conn: duckdb.DuckDBPyConnection, frame: pl.DataFrame, **write) -> Upserted:
    """`upsert_rows` of spot candles."""
    return upsert_rows(conn, frame, dataset=SPOT_CANDLES, **write)


def _replace_rows(conn: duckdb.DuckDBPyConnection, incoming: pl.DataFrame, *, dataset: Dataset,
                  symbol: SymbolSettings, fill_only: Collection[str], run_id: str | None, now: datetime,
                  held: int) -> Upserted:
    """Within the caller's transaction: store what `precedence.replacement` lets the incoming rows store, and keep
    every replaced row in the dataset's revisions table. Identical rows are neither deleted nor inserted. The stored
    rows of the span are read only when some are `held` there."""
    keys = ", ".join(dataset.row_keys)
    bounds = [symbol.symbol, incoming["ts"].min(), incoming["ts"].max()]
    compared = f"{keys}, {', '.join((*dataset.values, 'source', 'ingested_at'))}"
    stored = (conn.sql(f"SELECT {compared} FROM {dataset.table} WHERE symbol = ? AND ts BETWEEN ? AND ?",
                       params=bounds).pl() if held else incoming.select(*dataset.row_keys, *dataset.values, "source",
                                                                        "ingested_at").head(0))
    decided = replacement(incoming, stored, chain=symbol.sources, fill_only=fill_only, dataset=dataset)
    if decided.revisions.height:
        revisions = decided.revisions.with_columns(symbol=pl.lit(symbol.symbol), run_id=pl.lit(run_id, pl.String()),
                                                   revised_at=pl.lit(now, pl.Datetime("us")))
        columns = ", ".join(revision_columns(dataset))
        conn.register("incoming_revisions", revisions)
        conn.execute(f"INSERT INTO {dataset.revisions_table} ({columns}) SELECT {columns} FROM incoming_revisions")
        conn.execute(f"DELETE FROM {dataset.table} WHERE symbol = ? AND ts BETWEEN ? AND ? "
                     f"AND ({keys}) IN (SELECT {keys} FROM incoming_revisions)", bounds)
        conn.unregister("incoming_revisions")
    if decided.write.height:
        columns = ", ".join(stored_columns(dataset))
        conn.register("written_rows", decided.write)
        conn.execute(f"INSERT INTO {dataset.table} ({columns}) SELECT {columns} FROM written_rows")
        conn.unregister("written_rows")
    return Upserted(rows=incoming.height, revised=decided.revisions.height, refused=decided.refused,
                    history_rewrites=history_rewrites(decided.revisions, now=now))


def log_requests(conn: duckdb.DuckDBPyConnection, requests: Sequence[RequestRecord], run_id: str | None, *,
                 dataset: Dataset = SPOT_CANDLES) -> None:
    """Record requests on their own, for runs that fail before anything is written."""
    _insert_log(conn, requests, run_id, dataset=dataset)


def record_listing(conn: duckdb.DuckDBPyConnection, *, symbol: SymbolSettings, listed_ts: datetime) -> None:
    """Keep the pair's first candle as a venue dated it (`symbols.listed_ts`): no hour before it is asked for."""
    with transaction(conn):
        _keep_symbol(conn, symbol)
        conn.execute("UPDATE symbols SET listed_ts = ? WHERE symbol = ?", [listed_ts, symbol.symbol])


def record_delisting(conn: duckdb.DuckDBPyConnection, *, symbol: SymbolSettings, delisted_ts: datetime) -> None:
    """Keep when the pair's last candle closed, a venue having stopped listing it as trading
    (`symbols.delisted_ts`): coverage counts to it and no hour after it is asked for."""
    with transaction(conn):
        _keep_symbol(conn, symbol)
        conn.execute("UPDATE symbols SET delisted_ts = ? WHERE symbol = ?", [delisted_ts, symbol.symbol])


def record_switch_gap(conn: duckdb.DuckDBPyConnection, *, symbol: SymbolSettings, first: datetime, stop: datetime,
                      slot_ms: int, reason: str, sources: str, dataset: Dataset = SPOT_CANDLES) -> int:
    """Record the slots (`slot_ms` apart) of [first, stop) of a renamed instrument where no venue symbol traded (the old
    one's last candle closed at `first`, the new one's first opened at `stop`, both as a venue dated them) as confirmed
    holes at once, each with `reason`; slots already held are skipped. The venue's own dating of both ends is the
    evidence, not empty answers that a glitch could explain, so one look suffices. Returns the slots recorded."""
    now = _utcnow()
    with transaction(conn):
        _keep_symbol(conn, symbol)
        return conn.execute(
            "INSERT INTO known_gaps (dataset, symbol, ts, confirmed_at, sources, confirmations, first_confirmed_at, "
            "reason) SELECT ?, ?, s.ts, ?, ?, ?, ?, ? FROM (SELECT unnest(range(?::TIMESTAMP, ?::TIMESTAMP, "
            "to_milliseconds(?))) AS ts) s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {dataset.table} c WHERE c.symbol = ? AND c.ts = s.ts) "
            "AND NOT EXISTS (SELECT 1 FROM known_gaps k WHERE k.dataset = ? AND k.symbol = ? AND k.ts = s.ts)",
            [dataset.name, symbol.symbol, now, sources, CONFIRMATIONS_NEEDED, now, reason, first, stop,
             slot_ms, symbol.symbol, dataset.name, symbol.symbol]).fetchall()[0][0]


def _record_holes(conn: duckdb.DuckDBPyConnection, symbol: str, holes: ConfirmedHoles, *, dataset: Dataset) -> None:
    """Count one more confirmation of each hole of `dataset` (a first one starts at 1, and says when); skip any
    time a row of the dataset is stored for.

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
        "WHERE k.dataset = ? AND k.symbol = ? AND k.ts BETWEEN ? AND ? AND k.ts = h.ts AND k.confirmed_at <= ?",
        [now, holes.sources, dataset.name, *bounds, now - CONFIRMATION_SPACING])
    conn.execute(
        "INSERT INTO known_gaps (dataset, symbol, ts, confirmed_at, sources, confirmations, first_confirmed_at, "
        f"reason) SELECT ?, ?, h.ts, ?, ?, 1, ?, h.reason FROM confirmed_holes h "
        f"WHERE NOT EXISTS (SELECT 1 FROM {dataset.table} c WHERE c.symbol = ? AND c.ts = h.ts) "
        "AND NOT EXISTS (SELECT 1 FROM known_gaps k WHERE k.dataset = ? AND k.symbol = ? AND k.ts = h.ts)",
        [dataset.name, symbol, now, holes.sources, now, symbol, dataset.name, symbol],
    )
    conn.unregister("confirmed_holes")


def _insert_log(conn: duckdb.DuckDBPyConnection, requests: Sequence[RequestRecord], run_id: str | None, *,
                dataset: Dataset) -> None:
    """One statement with one list per column: a frame registered for a handful of requests cost three statements and
    twice the time, inside the lock every writer waits for."""
    if not requests:
        return
    columns = [[_naive(getattr(r, name)) for r in requests] for name in _LOG_COLUMNS]
    conn.execute(_INSERT_LOG, [*columns, run_id, dataset.name])


def _naive(value):
    """A time as the warehouse keeps it, naive UTC; anything else as it is."""
    return value.astimezone(UTC).replace(tzinfo=None) if isinstance(value, datetime) and value.tzinfo else value


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
