"""Dagster's SQLite event log, writing a batch of asset events in one transaction per database instead of one each.

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

BATCHED_TYPES = frozenset({DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_OBSERVATION})
CHUNK = 1000  # events per INSERT: 7 bound values each, inside SQLite's 32,766 variables per statement


class BatchingSqliteEventLogStorage(SqliteEventLogStorage):
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
