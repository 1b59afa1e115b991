from datetime import UTC, datetime

import dagster as dg

from datafactory_assets.assets import build_coverage_asset, candle_assets
from datafactory_assets.automation.schedules import hourly_collection
from datafactory_assets.settings import Settings
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse import WarehouseResource
from datafactory_tests.helpers import symbol_settings


def settings_with(*symbols) -> Settings:
    return Settings(symbols=symbols, warehouse_path=None, emulator_url=None, partitions_per_run=720,
                    schedule_minute=5, config_path=None)


def test_the_hourly_schedule_runs_by_default_and_asks_for_the_hour_that_just_closed():
    settings = settings_with(symbol_settings("BTC/USDT"), symbol_settings("ETH/USDT"))
    jobs, schedules = hourly_collection(settings)
    defs = dg.Definitions(assets=[*candle_assets(settings), build_coverage_asset(settings)], jobs=jobs,
                          schedules=schedules,
                          resources={"warehouse": WarehouseResource(path="unused.duckdb"),
                                     "sources": SourcesResource()})
    schedule = defs.resolve_schedule_def("candles_job_hourly")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.cron_schedule == "5 * * * *"
    tick = datetime(2026, 11, 24, 10, 5, tzinfo=UTC)
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        (request,) = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-11-24-09:00"
    assert defs.resolve_schedule_def("coverage_hourly").cron_schedule == "15 * * * *"
    job = defs.resolve_job_def("candles_job")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {
        "candles/btc_usdt", "candles/eth_usdt"}


def test_symbols_with_their_own_start_get_their_own_job():
    late = datetime(2025, 6, 1, tzinfo=UTC)
    jobs, schedules = hourly_collection(settings_with(symbol_settings("BTC/USDT"),
                                                      symbol_settings("SOL/USDT", start=late)))
    assert sorted(j.name for j in jobs) == ["candles_job_2024030100", "candles_job_2025060100", "coverage_job"]
    assert sorted(s.name for s in schedules) == ["candles_job_2024030100_hourly", "candles_job_2025060100_hourly",
                                                 "coverage_hourly"]
