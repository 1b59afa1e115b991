"""The hourly collection: one job per partition set, each scheduled a few minutes after the hour, running by default.

Symbols that share a start date share a partitions definition and so one job: each hour one run collects the hour
that just closed for all of them, instead of one process per symbol. Symbols whose chains start at different sources
get a job per source, so each run carries one source tag for the production queue's limits.
"""

from __future__ import annotations

from collections import defaultdict

import dagster as dg

from datafactory_assets.assets import COVERAGE_KEY, SOURCE_HEALTH_KEY, candle_key, hourly_partitions
from datafactory_assets.automation.run_tags import PRIORITY_TAG, SCHEDULED_PRIORITY, candle_run_tags
from datafactory_assets.datasets import DATASETS
from datafactory_assets.settings import Settings


def hourly_collection(settings: Settings) -> tuple[list, list]:
    """Jobs and their schedules; with one start date (the usual case) `candles_job` and its schedule, then the
    coverage table and source health ten minutes later."""
    groups = defaultdict(list)
    for symbol in settings.symbols:
        groups[symbol.start, symbol.sources[0]].extend(candle_key(symbol, DATASETS[name]) for name in symbol.datasets)
    one_source = len({source for _, source in groups}) == 1
    jobs, schedules = [], []
    for (start, source), keys in sorted(groups.items()):
        name = ("candles_job" if len(groups) == 1
                else f"candles_job_{start:%Y%m%d%H}" + ("" if one_source else f"_{source}"))
        job = dg.define_asset_job(name, selection=dg.AssetSelection.assets(*keys),
                                  partitions_def=hourly_partitions(start),
                                  run_tags={**candle_run_tags(source), PRIORITY_TAG: SCHEDULED_PRIORITY},
                                  description="Collects the last complete hour of every symbol in the selection.")
        jobs.append(job)
        schedules.append(dg.build_schedule_from_partitioned_job(
            job, name=f"{name}_hourly", minute_of_hour=settings.schedule_minute,
            default_status=dg.DefaultScheduleStatus.RUNNING,
        ))
    coverage_job = dg.define_asset_job("coverage_job",
                                       selection=dg.AssetSelection.assets(COVERAGE_KEY, SOURCE_HEALTH_KEY),
                                       description="Records the coverage table and the sources' last hour, after the "
                                                   "hourly collection (one run for both).")
    jobs.append(coverage_job)
    schedules.append(dg.ScheduleDefinition(
        name="coverage_hourly", job=coverage_job, cron_schedule=f"{(settings.schedule_minute + 10) % 60} * * * *",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    ))
    return jobs, schedules
