"""The sensor that evaluates the rollups' automation condition (`assets/rollups.py`: eager over every partition).

Dagster creates a default automation sensor on its own, but stopped; this one runs by default, and its runs carry
the warehouse-writer tag the production queue limits by. Requests over many partitions become backfills, so each
run respects the rollups' backfill policy.
"""

import dagster as dg

from datafactory_assets.automation.run_tags import warehouse_tags


def rollup_automation_sensor(interval_s: int = 30) -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        "rollups_automation", target=dg.AssetSelection.groups("rollups"), minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING, emit_backfills=True, run_tags=warehouse_tags(),
        description="Rolls up candle hours into 1h and 1d bars after they are stored.")
