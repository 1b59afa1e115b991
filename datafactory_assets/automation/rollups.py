"""The sensor that evaluates the rollups' automation condition (`assets/rollups.py`: eager over every partition).

Dagster creates a default automation sensor on its own, but stopped; this one runs by default. Requests over many
partitions become backfills, so each run respects the rollups' backfill policy.

Its runs queue behind candle runs (Dagster's `dagster/priority` run tag, which the queued run coordinator dequeues by,
highest first, first in first out among equals): while a fresh universe fills, every healing run that stores candles
makes the sensor ask for rollups, and in arrival order those runs took the queue's four slots from the fill they
follow (a `make up OFFLINE=1` showed 76 rollup runs queued ahead of the healing runs, the fill slowed to a few
hundred candles a second). A rollup waits for its candles anyway; nothing waits for a rollup.

How often it looks grows with the universe. Each evaluation walks the condition over every rollup asset and all its
partitions and stores its cursor; at 200 symbols (400 rollup assets) the daemon of an idle platform used 5.5 to 7 CPU-s
a minute (`bench/idle_platform.py`), 86% of its samples holding the GIL in this sensor (py-spy `--gil`, 2-core
machine): every 30 s it kept a tenth of a core busy, and during `bench/history.py --workload b` a fifth of the
platform's CPU. The interval is 30 s up to 120 rollup assets (60 symbols; the shipped universe's 8 unchanged) and a
quarter of a second per rollup asset beyond: 100 s at 400, so a rollup is asked for at most 100 s after its candles
are stored, well inside the hour the hourly run leaves it.
"""

import dagster as dg

from datafactory_assets.assets.rollups import ROLLUP_PREFIX

PRIORITY_TAG = "dagster/priority"  # Dagster's run queue priority (default 0), dagster._core.storage.tags.PRIORITY_TAG
ROLLUP_PRIORITY = -1  # below candle, coverage and health runs
MIN_INTERVAL_S = 30
SECONDS_PER_ROLLUP_ASSET = 0.25


def rollup_automation_sensor(rollup_assets: int = 0) -> dg.AutomationConditionSensorDefinition:
    """The sensor over `rollup_assets` rollup assets, looking every `sensor_interval_s(rollup_assets)` seconds."""
    return dg.AutomationConditionSensorDefinition(
        "rollups_automation", target=dg.AssetSelection.key_prefixes([ROLLUP_PREFIX]),
        minimum_interval_seconds=sensor_interval_s(rollup_assets),
        default_status=dg.DefaultSensorStatus.RUNNING, emit_backfills=True,
        run_tags={PRIORITY_TAG: str(ROLLUP_PRIORITY)},
        description="Rolls up candle hours into 1h and 1d bars after they are stored.")


def sensor_interval_s(rollup_assets: int) -> int:
    """Seconds between evaluations: `MIN_INTERVAL_S`, or longer where evaluating that often would cost more CPU than
    the rollups are worth (see above)."""
    return max(MIN_INTERVAL_S, round(rollup_assets * SECONDS_PER_ROLLUP_ASSET))
