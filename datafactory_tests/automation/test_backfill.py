from datetime import UTC, datetime, timedelta

import pytest

from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.automation.backfill import (HOUR, RUN_PARTITIONS, RangeRun, missing_ranges, partition_range,
                                                    range_runs, selected_symbols, whole_window)
from datafactory_assets.series import Series
from datafactory_assets.settings import Settings, SymbolSettings
from datafactory_tests.helpers import symbol_settings

NOW = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
SETTINGS = Settings(symbols=(symbol_settings("BTC/USDT"), symbol_settings("ETH/USDT")), warehouse_path=None,
                    emulator_url=None, partitions_per_run=720, schedule_minute=5, config_path="datafactory.toml")


def test_dates_hours_and_partition_keys_are_inclusive_hour_bounds():
    assert partition_range("2025-01-01", "2025-01-02", now=NOW) == (
        datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, 23, tzinfo=UTC))
    assert partition_range("2025-01-01T05:00", "2025-01-01-07:00", now=NOW) == (
        datetime(2025, 1, 1, 5, tzinfo=UTC), datetime(2025, 1, 1, 7, tzinfo=UTC))
    assert partition_range("2026-11-24", "2026-11-24T09:00", now=NOW)[1] == datetime(2026, 11, 24, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        ("2025-01-02", "2025-01-01", "--from 2025-01-02 is after --to 2025-01-01"),
        ("2026-11-24", "2026-11-24T10:00", "reaches past the last complete hour (2026-11-24-09:00 UTC)"),
        ("2026-11-24", "2026-11-24", "reaches past the last complete hour"),
        ("yesterday", "2025-01-01", "--from yesterday is not a date"),
        ("2025-01-01T05:30", "2025-01-01", "--from 2025-01-01T05:30 must fall on a whole hour"),
    ],
)
def test_bad_ranges_are_refused_with_the_reason(first, last, message):
    with pytest.raises(ValueError) as caught:
        partition_range(first, last, now=NOW)
    assert message in str(caught.value)


def test_symbols_are_selected_and_unknown_or_too_early_ones_refused():
    start = datetime(2024, 3, 1, tzinfo=UTC)
    assert selected_symbols(SETTINGS, ["ETH/USDT"], start) == [SETTINGS.symbols[1]]
    assert selected_symbols(SETTINGS, [], start) == list(SETTINGS.symbols)
    with pytest.raises(ValueError, match=r"symbols \['DOGE/USDT'\] are not in datafactory.toml"):
        selected_symbols(SETTINGS, ["DOGE/USDT"], start)
    with pytest.raises(ValueError, match=r"before the first partition of \['BTC/USDT', 'ETH/USDT'\]"):
        selected_symbols(SETTINGS, [], datetime(2024, 2, 1, tzinfo=UTC))


def test_only_the_hours_the_warehouse_lacks_are_asked_for_each_run_of_them_as_one_range(warehouse, sources):
    btc, eth = SETTINGS.symbols
    ingest_window(btc, start=hour(0), end=hour(6), sources=sources, warehouse=warehouse)
    ingest_window(eth, start=hour(0), end=hour(8), sources=sources, warehouse=warehouse)
    with warehouse.connect() as conn:
        conn.execute("DELETE FROM candles WHERE symbol = 'BTC/USDT' AND (ts >= ? AND ts < ? OR ts = ?)",
                     [hour(2).replace(tzinfo=None), hour(3).replace(tzinfo=None),
                      hour(4).replace(tzinfo=None) + timedelta(minutes=59)])
    with warehouse.connect(read_only=True) as conn:
        plan = missing_ranges(conn, [btc, eth], hour(0), hour(7))
    assert plan == {Series(btc): [(hour(2), hour(2)), (hour(4), hour(4)), (hour(6), hour(7))], Series(eth): []}
    assert range_runs(plan, partitions_per_run=720) == [
        RangeRun("binance", hour(2), hour(2), ("candles/btc_usdt",)),
        RangeRun("binance", hour(4), hour(4), ("candles/btc_usdt",)),
        RangeRun("binance", hour(6), hour(7), ("candles/btc_usdt",))]
    assert whole_window([btc, eth], hour(0), hour(7)) == {Series(btc): [(hour(0), hour(7))],
                                                          Series(eth): [(hour(0), hour(7))]}


def test_a_perpetual_is_planned_per_dataset_it_collects_each_launched_under_its_own_asset(warehouse, sources):
    """Before, the plan counted spot candles per symbol and launched `candles/btc_usdt`, which a perpetual lacks; and
    it left funding rates out (no number of rows an hour holds), so a perpetual's backfill never fetched them."""
    from datafactory_assets.datasets import PERP_CANDLES

    perp = SymbolSettings(symbol="BTC/USDT:USDT", timeframe="1m", start=hour(0), sources=("binance",),
                          datasets=("perp_candles", "mark_candles", "funding_rates"))
    ingest_window(perp, start=hour(0), end=hour(4), sources=sources, warehouse=warehouse, dataset=PERP_CANDLES)
    with warehouse.connect(read_only=True) as conn:
        plan = missing_ranges(conn, [perp], hour(0), hour(5))
    assert plan == {Series(perp, "perp_candles"): [(hour(4), hour(5))],
                    Series(perp, "mark_candles"): [(hour(0), hour(5))],
                    Series(perp, "funding_rates"): [(hour(0), hour(5))]}  # nothing stored: no interval known yet
    assert range_runs(plan, partitions_per_run=720) == [
        RangeRun("binance", hour(0), hour(5), ("mark_candles/btc_usdt", "funding_rates/btc_usdt")),
        RangeRun("binance", hour(4), hour(5), ("perp_candles/btc_usdt",))]
    assert list(whole_window([perp], hour(0), hour(5))) == list(plan)


def test_a_stored_funding_window_asks_nothing_and_a_lost_event_asks_for_its_hour_alone(warehouse, sources):
    """Funding events come every 8 hours here (the emulator's BTC timeline): the hours between them hold none due."""
    from datafactory_assets.datasets import FUNDING_RATES

    funding = SymbolSettings(symbol="BTC/USDT:USDT", timeframe="1m", start=hour(0), sources=("binance",),
                             datasets=("funding_rates",))
    ingest_window(funding, start=hour(0), end=hour(24), sources=sources, warehouse=warehouse, dataset=FUNDING_RATES)
    with warehouse.connect(read_only=True) as conn:
        assert missing_ranges(conn, [funding], hour(0), hour(23)) == {Series(funding, "funding_rates"): []}
        assert missing_ranges(conn, [funding], hour(0), hour(24)) == {  # the next day's first event: not stored
            Series(funding, "funding_rates"): [(hour(24), hour(24))]}
    with warehouse.connect() as conn:
        conn.execute("DELETE FROM funding_rates WHERE ts = ?", [hour(8).replace(tzinfo=None)])
    with warehouse.connect(read_only=True) as conn:
        plan = missing_ranges(conn, [funding], hour(0), hour(23))
    assert plan == {Series(funding, "funding_rates"): [(hour(8), hour(8))]}
    assert range_runs(plan, partitions_per_run=720) == [
        RangeRun("binance", hour(8), hour(8), ("funding_rates/btc_usdt",))]


def test_a_small_backfill_is_one_run_per_range_that_symbols_needing_the_same_hours_share():
    btc, eth = SETTINGS.symbols
    plan = {Series(btc): [(hour(0), hour(4))], Series(eth): [(hour(0), hour(4)), (hour(7), hour(7))]}
    assert range_runs(plan, partitions_per_run=2) == [
        RangeRun("binance", hour(0), hour(4), ("candles/btc_usdt", "candles/eth_usdt")),
        RangeRun("binance", hour(7), hour(7), ("candles/eth_usdt",))]


@pytest.mark.parametrize(("symbols", "hours", "partitions_per_run", "runs"), [
    (4, 8760, 720, [(2190, 4)] * 4),  # a year of four symbols: four runs of a quarter of the year, all four symbols
    (1, 8760, 720, [(2190, 1)] * 4),  # a year of one symbol: four runs, none longer than SPAN_HOURS
    (1, 8760, 4380, [(4380, 1)] * 2),  # ... unless partitions_per_run asks for longer
    (200, 168, 720, [(168, 50)] * 4),  # a week of 200 symbols: four runs of 50 symbols
    (4, 35040, 720, [(2190, 4)] * 16),  # four years of four symbols: runs of RUN_PARTITIONS, more of them
])
def test_a_backfill_is_about_as_many_runs_as_run_at_once_each_as_large_as_allowed(symbols, hours,
                                                                                partitions_per_run, runs):
    plan = {Series(symbol_settings(f"S{i}/USDT")): [(hour(0), hour(hours - 1))] for i in range(symbols)}
    cut = range_runs(plan, partitions_per_run=partitions_per_run)
    assert [(run.hours, len(run.assets)) for run in cut] == runs
    assert all(run.hours * len(run.assets) <= RUN_PARTITIONS for run in cut)
    covered = sorted((asset, run.first + h * HOUR) for run in cut for asset in run.assets for h in range(run.hours))
    assert covered == sorted((f"candles/{s.settings.asset_name}", hour(h)) for s in plan for h in range(hours))


def test_many_symbols_needing_the_same_span_are_spread_over_runs_of_a_bounded_size():
    many = {Series(symbol_settings(f"S{i}/USDT")): [(hour(0), hour(167))] for i in range(40)}  # a week of 40
    runs = range_runs(many, partitions_per_run=720)
    assert [len(run.assets) for run in runs] == [17, 17, 6]
    assert all(run.hours == 168 and run.hours * len(run.assets) <= RUN_PARTITIONS for run in runs)
    assert sorted(a for run in runs for a in run.assets) == sorted(f"candles/{s.settings.asset_name}" for s in many)


def hour(h: int) -> datetime:
    return datetime(2024, 3, 1, tzinfo=UTC) + timedelta(hours=h)
