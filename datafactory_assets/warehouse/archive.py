"""Moving closed months of candles out of DuckDB into Parquet files the views still read, and back.

Layout: `<warehouse stem>.archive/symbol=<SYM>/month=<YYYY-MM>/data.parquet` for spot candles, and the same inside a
folder named after its table for any other dataset (`views.archive_folder`) (hive; `/` in a symbol is written
`%2F`, as DuckDB's own partitioned writes do and its hive reader decodes). Whole months only, so a month's file is
written once and final. A file holds every column of the dataset's table but `symbol`, in table order; every
function takes the dataset it moves (spot candles when not given), and `archived_months.dataset` says whose a
listed month is.

A month moves in three steps, each safe to interrupt: the file is written under a temporary name and checked (rows
and a content checksum) against the table, renamed into place, then one DuckDB transaction checks the file again,
lists the month in `archived_months` and deletes its rows from the table. Views read an archive file only when its
month is listed, so before that commit the rows are read from the table alone and after it from the file alone:
nothing is lost or counted twice, and rerunning the command completes an interrupted move.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import quote

from collections.abc import Mapping

import duckdb

from datafactory_assets.datasets import DATASETS, SPOT_CANDLES, Dataset
from datafactory_assets.warehouse.sql import sql_string, transaction
from datafactory_assets.warehouse.views import all_rows_view, archive_folder, file_columns


class ArchivedMonthError(ValueError):
    """A write or an archive run reaches into a month whose candles live in the archive."""


@dataclass(frozen=True)
class MonthMove:
    """One symbol-month moved (or, in a dry run, to be moved) to the archive."""

    symbol: str
    month: str
    rows: int


def month_file(symbol: str, month: str, *, dataset: Dataset = SPOT_CANDLES) -> str:
    """The month's file relative to the archive directory (and so to every connection's file_search_path)."""
    return f"{archive_folder(dataset)}symbol={quote(symbol, safe='')}/month={month}/data.parquet"


def parse_cutoff(text: str, *, today: date) -> date:
    """`2025-03` or `2025-03-01` -> 2025-03-01: archiving stops at a month boundary no later than this month's."""
    try:
        cutoff = date.fromisoformat(text if len(text) > 7 else f"{text}-01")
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a month start such as 2025-03-01 (or 2025-03)") from exc
    if cutoff.day != 1:
        raise ValueError(f"{text!r} is not the first day of a month: archives hold whole months; "
                         f"use {cutoff.replace(day=1)} or {_next_month(cutoff)}")
    if cutoff > today.replace(day=1):
        raise ValueError(f"{text!r} is after the current month's start {today.replace(day=1)}: only closed "
                         f"months can be archived")
    return cutoff


def months_to_archive(conn: duckdb.DuckDBPyConnection, before: date, *,
                      dataset: Dataset = SPOT_CANDLES) -> list[MonthMove]:
    """The symbol-months with rows in the dataset's table and open time before `before`, oldest first."""
    moves = [MonthMove(*row) for row in conn.execute(
        f"SELECT symbol, strftime(ts, '%Y-%m') AS month, count(*) FROM {dataset.table} WHERE ts < ? GROUP BY ALL "
        "ORDER BY month, symbol", [datetime(before.year, before.month, 1)]).fetchall()]
    archived = set(conn.execute("SELECT symbol, month FROM archived_months WHERE dataset = ?",
                                [dataset.name]).fetchall())
    clashes = [f"{m.symbol} {m.month}" for m in moves if (m.symbol, m.month) in archived]
    if clashes:
        raise ArchivedMonthError(f"the table holds candles of months already archived ({', '.join(clashes)}); "
                                 "`datafactory doctor` lists them; restore those months (`datafactory archive "
                                 "--restore MONTH --symbol SYMBOL`) and archive again")
    return moves


def archive_before(conn: duckdb.DuckDBPyConnection, *, archive_dir: Path, before: date,
                   dataset: Dataset = SPOT_CANDLES) -> list[MonthMove]:
    """Move every symbol-month before `before` from the dataset's table to its archive file; returns what moved."""
    moves = months_to_archive(conn, before, dataset=dataset)
    _remove_partials(archive_dir / archive_folder(dataset))
    for move in moves:
        _move_month(conn, archive_dir, move, dataset=dataset)
    return moves


def compact(conn: duckdb.DuckDBPyConnection) -> Path:
    """Rewrite the warehouse file without the space deleted rows left (DuckDB reuses free blocks but only gives back
    those at the end of the file); returns its path. Close `conn` right after: it still reads the old file.

    The copy is made while `conn` holds the file's lock (no other process has it open), checked table by table, and
    swapped in with one rename, so a crash leaves either the old file or the new one, never a mix.
    """
    name, path = conn.execute("SELECT database_name, path FROM duckdb_databases() "
                              "WHERE database_name = current_database()").fetchall()[0]
    path = Path(path)
    copy = path.with_name(f".{path.name}.{uuid.uuid4().hex}.compact")
    conn.execute("CHECKPOINT")
    try:
        conn.execute(f"ATTACH {sql_string(copy)} AS compacted")
        try:
            conn.execute(f'COPY FROM DATABASE "{name}" TO compacted')
            for (table,) in conn.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ?",
                                         [name]).fetchall():
                counts = [conn.execute(f'SELECT count(*) FROM {db}.main."{table}"').fetchall()[0][0]
                          for db in (f'"{name}"', "compacted")]
                if counts[0] != counts[1]:
                    raise RuntimeError(f"compacting {path}: {table} has {counts[1]} rows in the copy, {counts[0]} "
                                       "in the file; the file is left as it was")
        finally:
            conn.execute("DETACH compacted")
        _fsync(copy)
        os.replace(copy, path)
        _fsync(path.parent)
    finally:
        copy.unlink(missing_ok=True)
    return path


def restore_month(conn: duckdb.DuckDBPyConnection, *, archive_dir: Path, symbol: str, month: str,
                  dataset: Dataset = SPOT_CANDLES) -> int:
    """Put an archived month's rows back into the dataset's table (so it can be written again); returns the rows."""
    listed = conn.execute("SELECT rows FROM archived_months WHERE dataset = ? AND symbol = ? AND month = ?",
                          [dataset.name, symbol, month]).fetchall()
    if not listed:
        archived = conn.execute("SELECT symbol || ' ' || month FROM archived_months WHERE dataset = ? "
                                "ORDER BY month, symbol", [dataset.name]).fetchall()
        raise ValueError(f"{symbol} {month} is not archived; archived: {[r[0] for r in archived] or 'nothing'}")
    relative = month_file(symbol, month, dataset=dataset)
    columns = file_columns(conn, dataset)
    with transaction(conn):
        inserted = conn.execute(f"INSERT INTO {dataset.table} (symbol, {columns}) SELECT ?, {columns} "
                                "FROM read_parquet(?)", [symbol, relative]).fetchall()[0][0]
        if inserted != listed[0][0]:
            raise RuntimeError(f"{relative} holds {inserted} candles, {listed[0][0]} were archived: nothing restored "
                               "(see `datafactory doctor`)")
        conn.execute("DELETE FROM archived_months WHERE dataset = ? AND symbol = ? AND month = ?",
                     [dataset.name, symbol, month])
        conn.execute(all_rows_view(conn, dataset))
    # Unlisted, the file is no longer read; deleting it after the commit can only leave an unread orphan behind.
    (archive_dir / relative).unlink(missing_ok=True)
    return listed[0][0]


def archived_month_error(symbol: str, month: str) -> ArchivedMonthError:
    """What refusing a write into `symbol`'s archived `month` says, and what to do (writing there would shadow or
    duplicate archived rows; `writes.upsert_rows` asks which month its rows or holes reach)."""
    return ArchivedMonthError(
        f"{symbol} {month} is archived (Parquet beside the warehouse), so its candles cannot be written: run "
        f"`datafactory archive --restore {month} --symbol {symbol}`, then materialize again")


def archive_problems(conn: duckdb.DuckDBPyConnection, *,
                     datasets: Mapping[str, Dataset] = DATASETS) -> list[str]:
    """Archived months (of `datasets`, by name) whose file is missing, cannot be read or differs from what was
    verified when it was archived. The checksum hashes every column of every row, so each file is read whole: a
    damaged page cannot hide."""
    problems = []
    for name, symbol, month, rows, checksum in conn.execute(
            "SELECT dataset, symbol, month, rows, checksum FROM archived_months WHERE dataset IN "
            "(SELECT unnest(?::VARCHAR[])) ORDER BY dataset, month, symbol", [list(datasets)]).fetchall():
        dataset = datasets[name]
        relative = month_file(symbol, month, dataset=dataset)
        try:
            found = conn.execute(f"SELECT {_checksum(conn, dataset)} FROM read_parquet(?)", [relative]).fetchall()[0]
        except duckdb.Error as exc:
            error = str(exc).splitlines()[0]
            problems.append(f"{symbol} {month}: file {relative} "
                            + ("missing" if "no files found" in error.lower() else f"damaged ({error})"))
            continue
        if found != (rows, checksum):
            problems.append(f"{symbol} {month}: file holds {found[0]} rows, {rows} were archived, or its content "
                            "changed")
    return problems


def _checksum(conn: duckdb.DuckDBPyConnection, dataset: Dataset) -> str:
    """Rows and a hash of every archived column of every row, the same over the table and over a file."""
    return f"count(*), coalesce(sum(hash({file_columns(conn, dataset)})), 0)"


def _move_month(conn: duckdb.DuckDBPyConnection, archive_dir: Path, move: MonthMove, *, dataset: Dataset) -> None:
    start = datetime(int(move.month[:4]), int(move.month[5:]), 1)
    window = [move.symbol, start, _next_month(start)]
    in_table = f"FROM {dataset.table} WHERE symbol = ? AND ts >= ? AND ts < ?"
    checksum = _checksum(conn, dataset)
    expected = conn.execute(f"SELECT {checksum} {in_table}", window).fetchall()[0]
    target = archive_dir / month_file(move.symbol, move.month, dataset=dataset)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".data.{uuid.uuid4().hex}.partial")
    try:
        conn.execute(f"COPY (SELECT {file_columns(conn, dataset)} {in_table} ORDER BY ts) TO {sql_string(partial)} "
                     "(FORMAT parquet, COMPRESSION zstd)", window)
        _check_file(conn, partial, expected, move, checksum=checksum)
        _fsync(partial)
        os.replace(partial, target)
        _fsync(target.parent)
    finally:
        partial.unlink(missing_ok=True)
    with transaction(conn):
        _check_file(conn, target, conn.execute(f"SELECT {checksum} {in_table}", window).fetchall()[0], move,
                    checksum=checksum)
        conn.execute("INSERT INTO archived_months (dataset, symbol, month, rows, checksum, archived_at) "
                     "VALUES (?, ?, ?, ?, ?, ?)", [dataset.name, move.symbol, move.month, expected[0], expected[1],
                                                   datetime.now(UTC).replace(tzinfo=None)])
        conn.execute(f"DELETE {in_table}", window)
        conn.execute(all_rows_view(conn, dataset))


def _check_file(conn: duckdb.DuckDBPyConnection, path: Path, expected: tuple, move: MonthMove, *,
                checksum: str) -> None:
    found = conn.execute(f"SELECT {checksum} FROM read_parquet(?)", [str(path)]).fetchall()[0]
    if tuple(found) != tuple(expected):
        raise RuntimeError(f"archive file {path} of {move.symbol} {move.month} holds {found[0]} rows (checksum "
                           f"{found[1]}), the table {expected[0]} ({expected[1]}): nothing deleted")


def _remove_partials(archive_dir: Path) -> None:
    """Temporary files of a run that died before renaming them: never read, safe to drop."""
    if archive_dir.exists():
        for partial in archive_dir.glob("symbol=*/month=*/.data.*.partial"):
            partial.unlink(missing_ok=True)


def _next_month(moment):
    return moment.replace(year=moment.year + moment.month // 12, month=moment.month % 12 + 1, day=1)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
