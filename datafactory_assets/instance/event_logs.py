"""The instance's event log storages: Dagster's own, writing less per partition of a range run.

**One planned row per check and run.** Dagster 1.13 gives the ASSET_CHECK_EVALUATION_PLANNED event of an unpartitioned
check the run's partition range (`DagsterRun.get_resolved_partitions_subset_for_events` falls back to the run's
subset when the check has no partitions definition), and the storage writes one PLANNED row per partition, each with
its own copy of the serialized event: 4 checks x 720 partitions = 2,880 rows per range run, the largest cost left once
events are batched. The check's one result has no partition, so it completes none of them: they show "In Progress"
while the run waits and "Skipped" after it. Our checks judge the whole run (checks/specs.py), so their plan is one
row without a partition, which their result then completes (`_update_asset_check_evaluation` matches it). A
partitioned check evaluated per partition still gets its result rows (Dagster inserts a row when none matches).

**Batched materializations.** A range run of N hourly partitions ends with N ASSET_MATERIALIZATION events handed to
the storage as one batch (DAGSTER_EVENT_BATCH_SIZE, see environment.py). Dagster 1.13's `SqliteEventLogStorage`
inherits the default `store_event_batch`, which stores them one by one: each opens two SQLite engines (the run's file
and the cross-run index) and commits twice, 14-40 ms per partition on a busy disk. `PostgresEventLogStorage` writes
them as one `INSERT ... VALUES` of 720 x 7 bound values, which SQLAlchemy builds and compiles anew for every batch
(0.17 s of the run worker's CPU per 720 events, against 0.12 s as an executemany, the serialization itself 0.065 s),
then commits a second transaction for the indexed tags and the asset's latest event. `OneStatementBatch` writes a
homogeneous batch of materializations or observations of one run as one `executemany` into the index (SQLAlchemy
compiles the one-row statement once and sends pages of up to 1,000 rows), with their indexed tags and each asset's
latest event in the same transaction; SQLite also puts the rows into the run's own file first. Any other batch, and
every single event, goes through Dagster's own code. The layout is Dagster's, so the webserver, the daemon and
`dagster instance migrate` read it unchanged.

**Rows serialized faster.** Every row's `event` column is Dagster's `serialize_value(event)` text, built by an
`EventPacker` (event_serdes.py): byte for byte the same, in about half the CPU (0.07-0.09 ms an event against
0.13-0.17 ms in a 50-step range run, `bench/range_run.py`); a batch's events share one, which packs an object the
previous event held (the step's handles, the asset key) once.

**Connections kept open (SQLite).** Dagster's `SqliteEventLogStorage._connect` creates an engine for every statement and
disposes it after: every event opens its run's file and the index, and closing the last connection of a WAL database
checkpoints it (writes the log back into the file), about 5 ms each in a profile on the loaded machine, twice per event
(about 70 single events per run: steps, outputs, checks, logs) and on every read of the webserver and daemon. This class
keeps one engine per file and process (the index and the eight run files used last), created again in a process that
forked from its creator and disposed when `wipe` deletes the files. Dagster's own thread lock still serializes the
statements of one process; SQLite's file locks serialize processes as before. PostgreSQL's connections are kept by
postgres_pool.py.

**Commits without a sync (SQLite).** Dagster's files are in WAL mode, with SQLite's default `synchronous=FULL`: every
commit waits for the disk to flush the log, and while it waits it holds the index's write lock that every run
process, the daemon and the webserver share. A step of a range run commits about ten single events (start, checks,
logs, output, success); in py-spy of `bench/history.py --workload b` (200 steps in 4 runs) the run workers spent a
tenth of their time in those commits. The kept connections use `synchronous=NORMAL`, SQLite's advice for WAL: a
commit is as atomic and the file as safe from corruption as before (a crashed process loses nothing committed); only
the last transactions before a power cut or an OS crash may be rolled back, events of runs that then show as
interrupted anyway.

It uses storage internals (`_connect`, `_initdb`, `_initialized_dbs`, `_db_lock`, `_event_to_row` (replaced: the same
row, its text built as above), `_store_asset_event_tags`, `_store_asset_event`, `run_connection`, `index_transaction`):
Dagster has no public hook for batch writing, connection reuse or row building, and this module is the only place that
touches them. It keeps the files where Dagster's default SQLite event log does: `<dagster_home>/history/runs`.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as db
from dagster import DagsterEventType, StringSource
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqliteEventLogStorage, SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS, create_db_conn_string
from dagster._serdes import ConfigurableClassData
from dagster_postgres import PostgresEventLogStorage
from dagster_shared.record import copy

from datafactory_assets.instance.event_serdes import EventPacker
from datafactory_assets.instance.postgres_pool import PooledEngine

BATCHED_TYPES = frozenset({DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_OBSERVATION})
OPEN_RUN_FILES = 8  # run files whose engine a process keeps, besides the index
INSERT = SqlEventLogStorageTable.insert()


class CheckPlannedOncePerRun:
    """Mixin for a `SqlEventLogStorage`: a check's planned event over a partition range is stored as one row."""

    def _store_asset_check_evaluation_planned(self, event: EventLogEntry, event_id: int | None) -> None:
        planned = event.get_dagster_event().event_specific_data
        if planned.partitions_subset is not None:
            unpartitioned = copy(planned, partitions_subset=None)
            event = event._replace(dagster_event=event.dagster_event._replace(event_specific_data=unpartitioned))
        super()._store_asset_check_evaluation_planned(event, event_id)


class OneStatementBatch:
    """Mixin for a `SqlEventLogStorage`: one run's batch of materializations (or observations) is one executemany."""

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        kinds = {event.get_dagster_event().event_type for event in events}
        runs = {event.run_id for event in events}
        if len(kinds) != 1 or not kinds <= BATCHED_TYPES or len(runs) != 1:
            super().store_event_batch(events)
            return
        packer = EventPacker()
        rows = [self._event_to_row(event, packer=packer) for event in events]
        self._store_run_rows(runs.pop(), rows)
        with self.index_transaction() as conn:
            returned = conn.execute(INSERT.returning(SqlEventLogStorageTable.c.id, sort_by_parameter_order=True), rows)
            event_ids = [row[0] for row in returned]
            self._store_asset_event_tags(conn, events, event_ids)
            latest = {event.get_dagster_event().asset_key: (event, event_id)
                      for event, event_id in zip(events, event_ids)}
            for event, event_id in latest.values():
                self._store_asset_event(conn, event, event_id)

    def _event_to_row(self, event: EventLogEntry, packer: EventPacker | None = None) -> dict[str, Any]:
        """`SqlEventLogStorage._event_to_row`, its `event` column serialized by an `EventPacker` (the batch's, or
        one of its own for a single event): the same text, in about half the time (event_serdes.py)."""
        dagster_event = event.dagster_event
        asset_key = dagster_event.asset_key if dagster_event else None
        return {"run_id": event.run_id, "event": (packer or EventPacker()).serialize(event),
                "dagster_event_type": dagster_event.event_type_value if dagster_event else None,
                "timestamp": self._event_insert_timestamp(event),
                "step_key": dagster_event.step_key if dagster_event else event.step_key,
                "asset_key": asset_key.to_string() if asset_key else None,
                "partition": (dagster_event.partition or None) if dagster_event else None}

    def _store_run_rows(self, run_id: str, rows: list[dict[str, Any]]) -> None:
        """Where the run's events live apart from the index (SQLite's run files); nothing to do by default."""


class TablesRemembered:
    """Mixin for a `SqlEventLogStorage`: `has_table` asks the database once per table found. Dagster asks for the
    same tables per event (whether asset checks or event tags can be stored), and SQLite's `has_table` creates an
    engine and opens the index file for each answer: four check evaluations per step and a check's planned event each
    at a run's start, 2% of a 50-step range run worker's time in py-spy. PostgreSQL's asked for the tags table inside
    the batch's transaction, which opened a second connection. A table once there stays; `wipe` forgets them (SQLite's
    deletes the files, which the next connection creates again)."""

    _tables: frozenset[str] = frozenset()

    def has_table(self, table_name: str) -> bool:
        if table_name in self._tables:
            return True
        found = super().has_table(table_name)
        if found:
            self._tables |= {table_name}
        return found

    def wipe(self) -> None:
        self._tables = frozenset()
        super().wipe()


class BatchingSqliteEventLogStorage(TablesRemembered, OneStatementBatch, CheckPlannedOncePerRun,
                                   SqliteEventLogStorage):
    """`SqliteEventLogStorage` whose `store_event_batch` writes one run's asset events in two transactions, over
    connections it keeps open."""

    _engines: OrderedDict[str, db.Engine] | None = None
    _engines_pid: int | None = None

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"dagster_home": StringSource}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,
                          config_value: Mapping[str, Any]) -> BatchingSqliteEventLogStorage:
        return cls(base_dir=os.path.join(config_value["dagster_home"], "history", "runs", ""), inst_data=inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[db.Connection]:
        """Dagster's `_connect`, on the shard's kept engine instead of a new one."""
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
                engine.dispose()  # a file it just created in WAL mode: reconnect to commit without a sync
            with engine.connect() as conn, conn.begin():
                yield conn

    def _engine(self, shard: str) -> db.Engine:
        if self._engines is None or self._engines_pid != os.getpid():
            self._engines, self._engines_pid = OrderedDict(), os.getpid()  # a forked child leaves its parent's alone
        engine = self._engines.pop(shard, None) or _kept_engine(create_db_conn_string(self._base_dir, shard))
        self._engines[shard] = engine
        run_files = [name for name in self._engines if name != INDEX_SHARD_NAME]
        for name in run_files[:-OPEN_RUN_FILES]:
            self._engines.pop(name).dispose()
        return engine

    def _dispose_engines(self) -> None:
        while self._engines_pid == os.getpid() and self._engines:
            self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        with self._db_lock:
            self._dispose_engines()
        super().wipe()

    def dispose(self) -> None:
        with self._db_lock:
            self._dispose_engines()
        super().dispose()

    def _store_run_rows(self, run_id: str, rows: list[dict[str, Any]]) -> None:
        with self.run_connection(run_id) as conn:
            conn.execute(INSERT, rows)


def _kept_engine(url: str) -> db.Engine:
    """An engine over one SQLite file whose connections commit without waiting for the disk (see above)."""
    engine = db.create_engine(url, poolclass=db.pool.SingletonThreadPool,
                              connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
    db.event.listen(engine, "connect", _commit_without_sync)
    return engine


def _commit_without_sync(dbapi_connection, _record) -> None:
    """Only on a file already in WAL mode (Dagster creates its files so): in rollback-journal mode a power cut
    could damage a file written with `synchronous=NORMAL`."""
    if dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class CheckPlannedOncePostgresEventLogStorage(PooledEngine, TablesRemembered, OneStatementBatch,
                                              CheckPlannedOncePerRun, PostgresEventLogStorage):
    """`PostgresEventLogStorage` writing one run's asset events in one transaction and a check's plan as one row,
    over a connection it keeps open (postgres_pool.py)."""
