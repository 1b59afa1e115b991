from datetime import UTC, datetime

import pytest

from datafactory_assets.automation.backfill import asset_ranges, partition_range
from datafactory_assets.settings import Settings
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


def test_asset_ranges_select_symbols_and_refuse_unknown_or_too_early_ones():
    start, end = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 1, 23, tzinfo=UTC)
    window = {"start": "2024-03-01-00:00", "end": "2024-03-01-23:00"}
    assert asset_ranges(SETTINGS, ["ETH/USDT"], start, end) == [
        {"assetKey": {"path": ["candles", "eth_usdt"]}, "partitions": {"range": window}}]
    assert len(asset_ranges(SETTINGS, [], start, end)) == 2
    with pytest.raises(ValueError, match=r"symbols \['DOGE/USDT'\] are not in datafactory.toml"):
        asset_ranges(SETTINGS, ["DOGE/USDT"], start, end)
    with pytest.raises(ValueError, match=r"before the first partition of \['BTC/USDT', 'ETH/USDT'\]"):
        asset_ranges(SETTINGS, [], datetime(2024, 2, 1, tzinfo=UTC), end)
