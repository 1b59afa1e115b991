"""Connections to the one DuckDB file, without Dagster: the CLI and the progress display read the warehouse through
this module, and `WarehouseResource` delegates to it, so every process opens the file the same way.

DuckDB lets one process write a file at a time. Every connection first takes our own lock beside the file
(`file_lock`: shared to read, alone to write) and keeps it until DuckDB has closed the file, because DuckDB's lock
alone lets a process opening the file as another closes it undo the other's writes. That lock is the only thing
serializing writers: runs fetch in parallel and take it only for their transaction, and every connection is closed
as soon as its work is done, so a writer waits (asleep in the kernel until the lock is released) for the others'
transactions, never for their fetching. Only DuckDB's own lock, held by a process outside ours, is polled.

A damaged file meets every caller (commands and runs alike) as `WarehouseDamagedError`, one line naming the file, what
DuckDB found and where to look next, instead of DuckDB's generic error from wherever the damaged block was read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from datafactory_assets.warehouse.file_lock import hold
from datafactory_assets.warehouse.host import attached
from datafactory_assets.warehouse.schema import ensure_schema

# What DuckDB 2.0 says on a damaged file: a block's checksum, a file cut short, a header that is not DuckDB's, every
# later statement once a fatal error has invalidated the database; and an archived month's Parquet file that is
# damaged (a failed page, say "ZSTD Decompression failure") or gone.
_DAMAGE = ("corrupt database file", "checksum", "could not read enough bytes", "not a valid duckdb database file",
           "database has been invalidated", "failed to read file", "no files found that match")


class WarehouseDamagedError(RuntimeError):
    """DuckDB met damage in the warehouse file or one of its archive files."""


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
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    with hold(path, shared=read_only, timeout_s=lock_timeout_s):
        try:
            with attached(path, read_only=read_only, lock_timeout_s=lock_timeout_s) as conn:
                conn.execute("SET file_search_path = ?", [str(archive_dir(path))])
                # DuckDB draws a progress bar on stdout for queries over 2 s, into the CLI's tables and pipes
                conn.execute("SET enable_progress_bar = false")
                if not read_only:
                    ensure_schema(conn)
                yield conn
        except duckdb.Error as exc:
            if any(sign in str(exc).lower() for sign in _DAMAGE):
                raise WarehouseDamagedError(
                    f"warehouse {path} is damaged ({' '.join(str(exc).split())}): `datafactory doctor` names what "
                    "is hit and what to do; if it cannot open the file either, restore the file from a backup"
                ) from exc
            raise

