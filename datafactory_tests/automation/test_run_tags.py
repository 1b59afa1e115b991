"""Every run our code creates carries the tags the production queue limits by."""

import dataclasses
from datetime import UTC, datetime

import dagster as dg

from datafactory_assets.automation.schedules import hourly_collection
from datafactory_assets.automation.backfill import range_runs
from datafactory_assets.automation.run_tags import PRIORITY_TAG, SOURCE_TAG
from datafactory_assets.series import Series
from datafactory_assets.settings import Settings
from datafactory_tests.helpers import symbol_settings

SETTINGS = Settings(symbols=(symbol_settings("BTC/USDT"), symbol_settings("ETH/USDT"),
                             dataclasses.replace(symbol_settings("SOL/USDT"), sources=("okx", "binance"))),
                    warehouse_path=None, emulator_url=None, partitions_per_run=720, schedule_minute=5,
                    config_path=None)


def test_the_hourly_collection_has_one_job_per_primary_source_and_its_runs_carry_the_source():
    jobs, _ = hourly_collection(SETTINGS)
    by_name = {job.name: job for job in jobs}
    assert sorted(by_name) == ["candles_job_2024030100_binance", "candles_job_2024030100_okx", "coverage_job"]
    okx, binance = by_name["candles_job_2024030100_okx"], by_name["candles_job_2024030100_binance"]
    assert okx.selection == dg.AssetSelection.assets(dg.AssetKey(["candles", "sol_usdt"]))
    assert okx.run_tags == {SOURCE_TAG: "okx", PRIORITY_TAG: "1"}
    assert binance.run_tags[SOURCE_TAG] == "binance"
    assert not by_name["coverage_job"].run_tags  # no writer tag: only the DuckDB transaction is serialized


def test_a_backfill_is_split_by_primary_source():
    start, end = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC)
    runs = range_runs({Series(s): [(start, end)] for s in SETTINGS.symbols}, partitions_per_run=720)
    assert {run.source: run.assets for run in runs} == {"binance": ("candles/btc_usdt", "candles/eth_usdt"),
                                                        "okx": ("candles/sol_usdt",)}
    only_sol = {Series(s): [(start, end)] if s.symbol == "SOL/USDT" else [] for s in SETTINGS.symbols}
    assert [run.source for run in range_runs(only_sol, partitions_per_run=720)] == ["okx"]
