"""A run whose partition range reaches the still-open hour is refused before anything is fetched, through the range
tags any launch carries (the CLI refuses it before launching; the UI and GraphQL do not)."""

from datetime import UTC, datetime

import dagster as dg
import pytest

from datafactory_assets.assets import build_candle_asset, build_rollup_assets
from datafactory_assets.hourly import HOUR, PARTITION_FORMAT
from datafactory_tests.helpers import open_hour_lasting, symbol_settings

BTC = symbol_settings("BTC/USDT", start=datetime(2024, 3, 1, tzinfo=UTC))


def run(asset, *, first: datetime, last: datetime, resources: dict) -> dg.ExecuteInProcessResult:
    return dg.materialize([asset], tags={"dagster/asset_partition_range_start": f"{first:{PARTITION_FORMAT}}",
                                         "dagster/asset_partition_range_end": f"{last:{PARTITION_FORMAT}}"},
                          resources=resources, raise_on_error=False, instance=dg.DagsterInstance.ephemeral())


def failure(result: dg.ExecuteInProcessResult) -> str:
    (step_failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return step_failure.step_failure_data.error.message


@pytest.mark.parametrize("beyond", [0, 2], ids=["ending-at-the-open-hour", "ending-after-it"])
def test_a_candle_range_reaching_the_still_open_hour_is_refused_and_nothing_is_fetched(warehouse, sources, emulator,
                                                                                     beyond):
    opened = open_hour_lasting(60)
    result = run(build_candle_asset(BTC, partitions_per_run=720), first=opened - 3 * HOUR,
                 last=opened + beyond * HOUR, resources={"warehouse": warehouse, "sources": sources})
    assert not result.success
    assert (f"refused: partitions {opened - 3 * HOUR:{PARTITION_FORMAT}} .. {opened + beyond * HOUR:{PARTITION_FORMAT}}"
            f" reach the still-open hour {opened:{PARTITION_FORMAT}} UTC, which is never stored; the last closed hour "
            f"is {opened - HOUR:{PARTITION_FORMAT}}. Nothing was fetched or stored.") in failure(result)
    assert emulator.request_log() == []
    assert not result.asset_materializations_for_node("candles__btc_usdt")


def test_a_range_ending_at_the_last_closed_hour_runs(warehouse, sources):
    opened = open_hour_lasting(60)
    result = run(build_candle_asset(BTC, partitions_per_run=720), first=opened - 2 * HOUR, last=opened - HOUR,
                 resources={"warehouse": warehouse, "sources": sources})
    assert result.success
    with warehouse.connect(read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM candles").fetchone() == (120,)


def test_a_rollup_of_the_still_open_hour_or_day_is_refused(warehouse):
    opened = open_hour_lasting(60)
    hourly, daily = build_rollup_assets(BTC, partitions_per_run=720)
    assert "refused" in failure(run(hourly, first=opened - HOUR, last=opened, resources={"warehouse": warehouse}))
    today = {"dagster/asset_partition_range_start": f"{opened:%Y-%m-%d}",
             "dagster/asset_partition_range_end": f"{opened:%Y-%m-%d}"}
    result = dg.materialize([daily], tags=today, resources={"warehouse": warehouse}, raise_on_error=False,
                            instance=dg.DagsterInstance.ephemeral())
    assert f"reach the still-open hour {opened:{PARTITION_FORMAT}}" in failure(result)
