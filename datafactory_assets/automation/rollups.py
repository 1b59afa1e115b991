"""The sensor that evaluates the rollups' automation condition (`assets/rollups.py`: eager over every partition).

Dagster creates a default automation sensor on its own, but stopped; this one runs by default. Requests over many
partitions become backfills, so each run respects the rollups' backfill policy.
"""

import dagster as dg

from datafactory_assets.assets.rollups import ROLLUP_PREFIX


def rollup_automation_sensor(interval_s: int = 30) -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        "rollups_automation", target=dg.AssetSelection.key_prefixes([ROLLUP_PREFIX]),
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING, emit_backfills=True,
        description="Rolls up candle hours into 1h and 1d bars after they are stored.")
