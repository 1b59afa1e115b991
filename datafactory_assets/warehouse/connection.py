"""Connections to the one DuckDB file, without Dagster: the CLI and the progress display read the warehouse through
this module, and `WarehouseResource` delegates to it, so every process opens the file the same way.

DuckDB lets one process write a file at a time. Every connection first takes our own lock beside the file
(`file_lock`: shared to read, alone to write) and keeps it until DuckDB has closed the file, because DuckDB's lock
alone lets a process opening the file as another closes it undo the other's writes. That lock is the only thing
serializing writers: runs fetch in parallel and take it only for their transaction, and every connection is closed
as soon as its work is done, so a writer waits (with jittered back-off) for the others' transactions, never for
their fetching.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import duckdb

from datafactory_assets.warehouse.file_lock import hold, wait_while_locked
from datafactory_assets.warehouse.schema import ensure_schema


def archive_dir(path: str | Path) -> Path:
    """Where `datafactory archive` keeps a warehouse's Parquet months: beside the file, moving with it."""
    path = Path(path)
    return path.with_name(path.stem + ".archive")


@contextmanager
def connect(path: str | Path, *, read_only: bool = False, lock_timeout_s: float = 120.0
            ) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse at `path`, closed on exit whatever happens inside; a read-write one creates or
    upgrades the schema first, a read-only one refuses a file that does not exist yet."""
    path = Path(path)
    if read_only and not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}: run `datafactory init` or materialize a partition")
    path.parent.mkdir(parents=True, exist_ok=True)
    with hold(path, shared=read_only, timeout_s=lock_timeout_s):
        conn = wait_while_locked(partial(duckdb.connect, str(path), read_only=read_only), locked=_is_lock_error,
                                 timeout_s=lock_timeout_s, path=path)
        try:
            conn.execute("SET file_search_path = ?", [str(archive_dir(path))])
            if not read_only:
                ensure_schema(conn)
            yield conn
        finally:
            conn.close()


def _is_lock_error(exc: BaseException) -> bool:
    """DuckDB's own lock, held by a process outside ours (a bare `duckdb` shell)."""
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()
