"""Connections to the one DuckDB file, as a Dagster resource usable outside Dagster too (CLI, benchmarks).

DuckDB lets one process write a file at a time. Every connection first takes our own lock beside the file
(`file_lock`: shared to read, alone to write) and keeps it until DuckDB has closed the file, because DuckDB's lock
alone lets a process opening the file as another closes it undo the other's writes. That lock is the only thing
serializing writers: runs fetch in parallel and take it only for their transaction, and every connection is closed
as soon as its work is done, so a writer waits for the others' transactions, never for their fetching.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import dagster as dg
import duckdb

from datafactory_assets.warehouse.file_lock import hold, wait_while_locked
from datafactory_assets.warehouse.schema import ensure_schema


def _is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse at `path`; the schema is created on the first read-write connection.

    `lock_timeout_s` bounds the wait for the lock before `WarehouseLockedError`. Runs writing at once queue on it: a
    run's write of 720 hourly partitions holds it for well under a second (`bench/warehouse_lock.py`: at most 0.6 s,
    six writers at once waited at most 1 s), so even every run of a full queue waits seconds. The default leaves
    ten minutes so that maintenance holding the file for long (`datafactory archive` compacting it) delays a run's
    write instead of throwing its fetched candles away; only a holder stuck for longer fails the run.
    """

    path: str
    lock_timeout_s: float = 600.0

    @property
    def archive_path(self) -> Path:
        """Where `datafactory archive` keeps this warehouse's Parquet months: beside the file, moving with it."""
        path = Path(self.path)
        return path.with_name(path.stem + ".archive")

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection that is closed on exit, whatever happens inside."""
        path = Path(self.path)
        if read_only and not path.exists():
            raise FileNotFoundError(f"no warehouse at {path}: run `datafactory init` or materialize a partition")
        path.parent.mkdir(parents=True, exist_ok=True)
        with hold(path, shared=read_only, timeout_s=self.lock_timeout_s):
            conn = self._open(read_only=read_only)
            try:
                conn.execute("SET file_search_path = ?", [str(self.archive_path)])
                if not read_only:
                    ensure_schema(conn)
                yield conn
            finally:
                conn.close()

    def _open(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        """DuckDB's connection, waiting out a process outside ours that holds DuckDB's own lock."""
        return wait_while_locked(partial(duckdb.connect, str(self.path), read_only=read_only), locked=_is_lock_error,
                                 timeout_s=self.lock_timeout_s, path=Path(self.path))
