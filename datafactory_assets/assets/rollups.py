"""Rollup assets downstream of each candle asset: 1h bars per hourly partition, 1d bars per daily partition.

The partitions line up with the candle asset's (Dagster maps a day onto its 24 hours), so a backfill that selects
the candles and their rollups computes each bar after the candles it is built from. Without a person selecting
them, the rollups follow their candles: `ROLLUP_AUTOMATION` (eager, over every partition, not only the latest)
asks for a bar whenever its candle hours were updated, by the schedule, a backfill or the healing sensor, and a
day's bar only once all of its hours exist.

The lineage graph labels a node with the last part of its key only, so `rollups/1h/btc_usdt` and
`rollups/1d/btc_usdt` both read `btc_usdt` there (dagster-webserver 1.13, `AssetNameRow` in `AssetNode.tsx`). Each
bucket is its own group instead (`rollups_1h`, `rollups_1d`), which the graph draws as a labelled box around its
nodes. The keys stay as they were: a key is what Dagster files every materialization under, so renaming them would
orphan the recorded history of every rollup partition, and the automation condition would see all of it missing.
"""

from datetime import datetime
from functools import cache

import dagster as dg

from datafactory_assets.assets.candles import backfill_policy_on_purpose, candle_key, hourly_partitions
from datafactory_assets.assets.closed_hours import refuse_unclosed_partitions
from datafactory_assets.assets.copies import copied
from datafactory_assets.assets.presigned import presigned
from datafactory_assets.datasets import SPOT_CANDLES
from datafactory_assets.modes import described
from datafactory_assets.settings import Settings, SymbolSettings
from datafactory_assets.warehouse import WarehouseResource
from datafactory_assets.warehouse.rollups import write_rollup


ROLLUP_AUTOMATION = dg.AutomationCondition.eager().without(dg.AutomationCondition.in_latest_time_window())
ROLLUP_PREFIX = "rollups"


def build_rollup_assets(symbol: SymbolSettings, *, partitions_per_run: int,
                        offline: bool = False) -> list[dg.AssetsDefinition]:
    """`offline`, the UI says their data is the emulator's."""
    candles = candle_key(symbol)
    return [
        _rollup(symbol, "1h", candles, hourly_partitions(symbol.start), partitions_per_run, offline=offline),
        _rollup(symbol, "1d", candles, daily_partitions(symbol.start), max(partitions_per_run // 24, 1),
                offline=offline),
    ]


@cache
def daily_partitions(start: datetime) -> dg.DailyPartitionsDefinition:
    """One shared definition per start date, as `hourly_partitions`."""
    return dg.DailyPartitionsDefinition(start_date=start.strftime("%Y-%m-%d"), end_offset=0)


def _rollup(symbol: SymbolSettings, bucket: str, candles: dg.AssetKey, partitions: dg.PartitionsDefinition,
            partitions_per_run: int, *, offline: bool) -> dg.AssetsDefinition:
    description = f"{bucket} bars of {symbol.symbol} built in DuckDB from its base candles."
    return copied(_template(bucket, partitions, partitions_per_run), fn=_compute(symbol.symbol, bucket),
                  key=dg.AssetKey([ROLLUP_PREFIX, bucket, symbol.asset_name]), deps=[candles],
                  partitions_def=partitions, description=description, shown=described(description, offline=offline))


@cache
def _template(bucket: str, partitions: dg.PartitionsDefinition, partitions_per_run: int) -> dg.AssetsDefinition:
    """What the rollups of `bucket` over `partitions` share, built once by `@dg.asset` for `copied` to copy (its
    function is never run: the op is built from its signature)."""
    with backfill_policy_on_purpose():
        return dg.asset(key=[ROLLUP_PREFIX, bucket, "template"], deps=[dg.AssetKey(["candles", "template"])],
                        group_name=f"rollups_{bucket}", partitions_def=partitions, kinds={"duckdb"},
                        automation_condition=ROLLUP_AUTOMATION,
                        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=partitions_per_run),
                        description="template")(_compute("template", bucket))


def _compute(symbol: str, bucket: str):
    @presigned
    def rollup(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        refuse_unclosed_partitions(context)
        window = context.partition_time_window
        with warehouse.connect() as conn:
            bars = write_rollup(conn, symbol=symbol, bucket=bucket, start=window.start, end=window.end)
        return dg.MaterializeResult(metadata={"bars": bars, "partitions": len(context.partition_keys)})

    return rollup


def rollup_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    """1h and 1d bars of every symbol collecting spot candles (the bars are built from those alone)."""
    return [a for s in settings.symbols if SPOT_CANDLES.name in s.datasets
            for a in build_rollup_assets(s, partitions_per_run=settings.partitions_per_run,
                                         offline=bool(settings.emulator_url))]

