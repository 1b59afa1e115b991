"""The sensor that evaluates the rollups' automation condition (`assets/rollups.py`: eager over every partition).

Dagster creates a default automation sensor on its own, but stopped; this one runs by default. Requests over many
partitions become backfills, so each run respects the rollups' backfill policy.

Its runs queue behind candle runs (Dagster's `dagster/priority` run tag, which the queued run coordinator dequeues by,
highest first, first in first out among equals): while a fresh universe fills, every healing run that stores candles
makes the sensor ask for rollups, and in arrival order those runs took the queue's four slots from the fill they
follow (a `make up OFFLINE=1` showed 76 rollup runs queued ahead of the healing runs, the fill slowed to a few
hundred candles a second). A rollup waits for its candles anyway; nothing waits for a rollup.
"""

import dagster as dg

from datafactory_assets.assets.rollups import ROLLUP_PREFIX

PRIORITY_TAG = "dagster/priority"  # Dagster's run queue priority (default 0), dagster._core.storage.tags.PRIORITY_TAG
ROLLUP_PRIORITY = -1  # below candle, coverage and health runs


def rollup_automation_sensor(interval_s: int = 30) -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        "rollups_automation", target=dg.AssetSelection.key_prefixes([ROLLUP_PREFIX]),
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING, emit_backfills=True,
        run_tags={PRIORITY_TAG: str(ROLLUP_PRIORITY)},
        description="Rolls up candle hours into 1h and 1d bars after they are stored.")
