"""Connections to the one DuckDB file, as a Dagster resource usable outside Dagster too (CLI, benchmarks).

DuckDB lets one process write a file at a time. Writers are serialized by the `warehouse` Dagster pool; a process
that still meets a writer (the CLI, a run outside the pool) waits with jittered back-off instead of failing, and
every connection is closed as soon as its work is done so nobody holds the file for long. Every connection first
takes our own lock beside the file (`file_lock`) and keeps it until DuckDB has closed the file, because DuckDB's
lock alone lets a process opening the file as another closes it undo the other's writes.
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
    """The DuckDB warehouse at `path`; the schema is created on the first read-write connection."""

    path: str
    lock_timeout_s: float = 120.0

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
