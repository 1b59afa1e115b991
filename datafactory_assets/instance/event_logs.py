"""The instance's event log storages: Dagster's own, writing less per partition of a range run.

**One planned row per check and run.** Dagster 1.13 gives the ASSET_CHECK_EVALUATION_PLANNED event of an unpartitioned
check the run's partition range (`DagsterRun.get_resolved_partitions_subset_for_events` falls back to the run's
subset when the check has no partitions definition), and the storage writes one PLANNED row per partition, each with
its own copy of the serialized event: 4 checks x 720 partitions = 2,880 rows per range run, the largest cost left once
events are batched. The check's one result has no partition, so it completes none of them: they show "In Progress"
while the run waits and "Skipped" after it. Our checks judge the whole run (checks/specs.py), so their plan is one
row without a partition, which their result then completes (`_update_asset_check_evaluation` matches it). A
partitioned check evaluated per partition still gets its result rows (Dagster inserts a row when none matches).

**Batched materializations (SQLite).** PostgreSQL's storage writes a batch in one INSERT already.

A range run of N hourly partitions ends with N ASSET_MATERIALIZATION events handed to the storage as one batch
(DAGSTER_EVENT_BATCH_SIZE, see environment.py). Dagster 1.13's `SqliteEventLogStorage` inherits the default
`store_event_batch`, which stores them one by one: each opens two SQLite engines (the run's file and the cross-run
index) and commits twice, 14-40 ms per partition on a busy disk. This class writes a homogeneous batch of
materializations or observations of one run the way `PostgresEventLogStorage.store_event_batch` does: one INSERT into
the run's file, one index transaction with the events, their indexed tags and each asset's latest event. Any other
batch, and every single event, goes through Dagster's own code. The layout on disk is Dagster's, so the webserver,
the daemon and `dagster instance migrate` read it unchanged.

It uses SQLite storage internals (`prepare_insert_event_batch`, `_store_asset_event_tags`, `_store_asset_event`,
`run_connection`, `index_transaction`): Dagster has no public batch-writing hook, and this module is the only place
that touches them. It keeps the files where Dagster's default SQLite event log does: `<dagster_home>/history/runs`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from dagster import DagsterEventType, StringSource
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqliteEventLogStorage, SqlEventLogStorageTable
from dagster._serdes import ConfigurableClassData
from dagster_postgres import PostgresEventLogStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config
from dagster_shared.record import copy

BATCHED_TYPES = frozenset({DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_OBSERVATION})
CHUNK = 1000  # events per INSERT: 7 bound values each, inside SQLite's 32,766 variables per statement


class CheckPlannedOncePerRun:
    """Mixin for a `SqlEventLogStorage`: a check's planned event over a partition range is stored as one row."""

    def _store_asset_check_evaluation_planned(self, event: EventLogEntry, event_id: int | None) -> None:
        planned = event.get_dagster_event().event_specific_data
        if planned.partitions_subset is not None:
            unpartitioned = copy(planned, partitions_subset=None)
            event = event._replace(dagster_event=event.dagster_event._replace(event_specific_data=unpartitioned))
        super()._store_asset_check_evaluation_planned(event, event_id)


class BatchingSqliteEventLogStorage(CheckPlannedOncePerRun, SqliteEventLogStorage):
    """`SqliteEventLogStorage` whose `store_event_batch` writes one run's asset events in two transactions."""

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"dagster_home": StringSource}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,
                          config_value: Mapping[str, Any]) -> BatchingSqliteEventLogStorage:
        return cls(base_dir=os.path.join(config_value["dagster_home"], "history", "runs", ""), inst_data=inst_data)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        kinds = {event.get_dagster_event().event_type for event in events}
        runs = {event.run_id for event in events}
        if len(kinds) != 1 or not kinds <= BATCHED_TYPES or len(runs) != 1:
            super().store_event_batch(events)
            return
        chunks = [events[i:i + CHUNK] for i in range(0, len(events), CHUNK)]
        inserts = [self.prepare_insert_event_batch(chunk) for chunk in chunks]
        with self.run_connection(runs.pop()) as conn:
            for insert in inserts:
                conn.execute(insert)
        with self.index_transaction() as conn:
            event_ids = [row[0] for insert in inserts
                         for row in conn.execute(insert.returning(SqlEventLogStorageTable.c.id))]
            self._store_asset_event_tags(conn, events, event_ids)
            latest = {event.get_dagster_event().asset_key: (event, event_id)
                      for event, event_id in zip(events, event_ids)}
            for event, event_id in latest.values():
                self._store_asset_event(conn, event, event_id)


class CheckPlannedOncePostgresEventLogStorage(CheckPlannedOncePerRun, PostgresEventLogStorage):
    """`PostgresEventLogStorage` (which batches materializations itself) storing a check's plan as one row."""

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,
                          config_value: Mapping[str, Any]) -> CheckPlannedOncePostgresEventLogStorage:
        return cls(inst_data=inst_data, postgres_url=pg_url_from_config(config_value),
                   should_autocreate_tables=config_value.get("should_autocreate_tables", True),
                   token_provider=get_token_provider_from_config(config_value))
