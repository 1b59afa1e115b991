"""The warehouse as a Dagster resource: configuration Dagster shows and validates, and connections from
`warehouse.connection`, the one code path every process (runs, CLI, benchmarks) opens the file through."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from datafactory_assets.warehouse.connection import archive_dir, connect


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
        return archive_dir(self.path)

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection that is closed on exit, whatever happens inside (see `warehouse.connection.connect`)."""
        with connect(self.path, read_only=read_only, lock_timeout_s=self.lock_timeout_s) as conn:
            yield conn
