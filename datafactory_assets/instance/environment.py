"""The Dagster environment variables every process that records events needs: webserver, daemon and run workers.

Dagster OSS records one ASSET_MATERIALIZATION_PLANNED event per partition when a run is created and one
ASSET_MATERIALIZATION per partition when it ends, each written on its own (14-37 ms per hourly partition on SQLite,
about 54 ms on PostgreSQL, against well under 1 ms of our own fetch and write). Two variables of Dagster 1.13 cut that:

- `DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS`: one planned event per asset and run carrying the run's partition
  range (`EventLogStorage.supports_partition_subset_in_asset_materialization_planned_events`). Dagster then no longer
  marks the partitions of a failed run failed (its failed-partition query reads per-partition planned events); the
  candle asset reports those itself (`datafactory_assets/instance/failed_partitions.py`).
- `DAGSTER_EVENT_BATCH_SIZE`: the partition materializations of one step reach the storage as one batch
  (`EventMethods.handle_new_event`); Dagster's PostgreSQL storage writes a batch in one INSERT, its SQLite storage
  still one event at a time, ours both as one executemany (event_logs.py). Above the largest range run
  (`[backfill] partitions_per_run`, 720 by default), so a run's materializations are one batch.

`datafactory up` (launcher.py) and the e2e platform both start Dagster with `dagster_environment()`; Dagster reads the
variables when events are written, so a process without them silently falls back to one event per partition.
"""

from __future__ import annotations

from collections.abc import Mapping

EMIT_PARTITION_SUBSET = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"
EVENT_BATCH_SIZE = "DAGSTER_EVENT_BATCH_SIZE"

DAGSTER_ENV: Mapping[str, str] = {
    EMIT_PARTITION_SUBSET: "true",
    EVENT_BATCH_SIZE: "10000",
}


def dagster_environment(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with the variables above; a value the operator set already wins."""
    return {**DAGSTER_ENV, **env}
