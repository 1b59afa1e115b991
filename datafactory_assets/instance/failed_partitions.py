"""Marks the partitions of a failed range run failed when Dagster records one planned event per run.

Dagster 1.13 OSS derives a partition's "failed" status from its latest ASSET_MATERIALIZATION_PLANNED event having no
later materialization in a run that ended FAILURE (`get_latest_asset_partition_materialization_attempts_without_
materializations`, read by `partition_status_cache`). With DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS (see
environment.py) the run's one planned event names no partition, so a failed range run would leave its partitions
"missing" (or showing an older success). Dagster's public way to say so, `AssetMaterializationFailure`, is neither
exported nor stored by OSS storages (`can_store_asset_failure_events` is False), so a failing step writes the
per-partition planned events Dagster would have written at launch: only on failure, so a successful run pays nothing.
These are private APIs (`DagsterEvent`, `AssetMaterializationPlannedData`, `report_dagster_event`), used nowhere else.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.events import AssetMaterializationPlannedData, DagsterEvent


def report_failed_partitions(context: dg.AssetExecutionContext) -> None:
    """Record the step's partitions as attempted without a materialization, so the run's FAILURE marks them failed.
    Nothing to do when the storage writes per-partition planned events itself."""
    instance = context.instance
    if not instance.event_log_storage.supports_partition_subset_in_asset_materialization_planned_events:
        return
    step_key = context.get_step_execution_context().step.key
    for key in context.selected_asset_keys:
        for partition in context.partition_keys:
            event = DagsterEvent.build_asset_materialization_planned_event(
                context.job_name, step_key, AssetMaterializationPlannedData(key, partition=partition))
            instance.report_dagster_event(event, run_id=context.run_id)
