"""The rollups' automation sensor queues its runs behind the candle runs whose candles they roll up."""

import dagster as dg

from datafactory_assets.assets import build_rollup_assets
from datafactory_assets.automation.rollups import rollup_automation_sensor
from datafactory_assets.warehouse import WarehouseResource
from datafactory_tests.helpers import symbol_settings


def test_rollup_runs_carry_a_queue_priority_below_the_default_of_every_other_run():
    """Dagster's queued run coordinator dequeues by the `dagster/priority` tag (missing: 0), highest first; the sensor
    puts its tags on the runs and backfills it requests, so a fill's candle runs are never queued behind them."""
    hourly, daily = build_rollup_assets(symbol_settings("BTC/USDT"), partitions_per_run=720)
    defs = dg.Definitions(assets=[hourly, daily], sensors=[rollup_automation_sensor()],
                          resources={"warehouse": WarehouseResource(path="unused.duckdb")})
    tags = defs.resolve_sensor_def("rollups_automation").run_tags
    assert int(tags["dagster/priority"]) < 0


def test_the_sensor_looks_less_often_as_the_universe_grows():
    """Each evaluation walks every rollup asset: the shipped universe's 8 keep 30 s, 200 symbols' 400 get 100 s."""
    intervals = {count: rollup_automation_sensor(count).minimum_interval_seconds for count in (8, 120, 400)}
    assert intervals == {8: 30, 120: 30, 400: 100}
