from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from datafactory_assets.settings import (
    DEFAULT_CONFIG,
    AccuracySettings,
    AnomalySettings,
    ConfigError,
    load_settings,
    timeframe_to_ms,
)


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "datafactory.toml"
    path.write_text(body)
    return path


def test_repository_config_loads_the_default_universe():
    settings = load_settings(DEFAULT_CONFIG, env={})
    assert [s.symbol for s in settings.symbols] == ["BTC/USDT", "ETH/USDT", "SOL/USDT", "ADA/USDT"]
    assert {s.timeframe for s in settings.symbols} == {"1m"}
    assert settings.symbols[0].asset_name == "btc_usdt"
    assert settings.warehouse_path == DEFAULT_CONFIG.parent / "data" / "warehouse.duckdb"
    assert settings.emulator_url is None


def test_environment_overrides_config_path_warehouse_and_emulator(tmp_path):
    path = write(tmp_path, '[defaults]\nstart = "2024-01-01"\n[symbols]\n"ETH/BTC" = { timeframe = "5m" }\n')
    settings = load_settings(env={"DATAFACTORY_CONFIG": str(path), "DATAFACTORY_WAREHOUSE": "/x/w.duckdb",
                                  "DATAFACTORY_EMULATOR_URL": "http://127.0.0.1:9/"})
    assert settings.config_path == path
    assert settings.warehouse_path == Path("/x/w.duckdb")
    assert settings.emulator_url == "http://127.0.0.1:9"
    (eth,) = settings.symbols
    assert (eth.timeframe_ms, eth.start) == (300_000, datetime(2024, 1, 1, tzinfo=UTC))


def test_relative_warehouse_path_is_relative_to_the_config_file(tmp_path):
    path = write(tmp_path, '[defaults]\nstart = "2024-01-01"\n[symbols]\n"BTC/USDT" = {}\n[warehouse]\npath = "w.db"\n')
    assert load_settings(path, env={}).warehouse_path == tmp_path / "w.db"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('"BTC/USDT" = { timeframe = "7x" }', "'BTC/USDT': unknown timeframe '7x'"),
        ('"BTC/USDT" = { timeframe = "7m" }', "'BTC/USDT': timeframe '7m' must divide one hour"),
        ('"BTC/USDT" = { timeframe = "4h" }', "'BTC/USDT': timeframe '4h' must divide one hour"),
        ('"btc-usdt" = {}', "symbol 'btc-usdt' is malformed"),
        ('"BTC/USDT" = { sources = ["nowhere"] }', "'BTC/USDT': unknown sources ['nowhere']"),
        ('"BTC/USDT" = { colour = "red" }', "'BTC/USDT' has unknown keys ['colour']"),
        ('"BTC/USDT" = { start = "2024-13-01" }', "'BTC/USDT': start '2024-13-01' is not a date"),
        ('"BTC/USDT" = { start = "2024-01-01T10:30:00" }', "must fall on a whole hour"),
        ('"BTC/USDT" = {}\n[accuracy]\nreference = "cmc"',
         "[accuracy] reference 'cmc' is neither \"coingecko\" nor a known source"),
        ('"BTC/USDT" = {}\n[accuracy]\ntolerance_bps = 0', "[accuracy] tolerance_bps must be a positive number, got 0"),
        ('"BTC/USDT" = {}\n[accuracy]\ntolerance_bps = "50"', "tolerance_bps must be a positive number, got '50'"),
        ('"BTC/USDT" = {}\n[accuracy]\nsample_size = 2.5', "sample_size must be a positive whole number, got 2.5"),
        ('"BTC/USDT" = {}\n[accuracy]\nsample_size = true', "sample_size must be a positive whole number, got True"),
        ('"BTC/USDT" = {}\n[accuracy]\ntolerance = 50', "[accuracy] has unknown keys ['tolerance']"),
        ('"BTC/USDT" = {}\n[anomaly]\nk = -1', "[anomaly] k must be a positive number, got -1"),
        ('"BTC/USDT" = {}\n[anomaly]\nzero_volume_streak = 1', "[anomaly] zero_volume_streak must be at least 2"),
        ('"BTC/USDT" = {}\n[anomaly]\nwindow = 10', "[anomaly] has unknown keys ['window']"),
    ],
)
def test_bad_entries_fail_at_load_naming_the_entry(tmp_path, entry, message):
    path = write(tmp_path, f'[defaults]\nstart = "2024-01-01"\n[symbols]\n{entry}\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert message in str(caught.value)


def test_start_in_the_future_is_refused(tmp_path):
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%d")
    path = write(tmp_path, f'[symbols]\n"BTC/USDT" = {{ start = "{tomorrow}" }}\n')
    with pytest.raises(ConfigError, match=f"start '{tomorrow}' is in the future"):
        load_settings(path, env={})


def test_missing_file_empty_universe_and_bad_numbers_are_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", env={})
    with pytest.raises(ConfigError, match="lists no symbols"):
        load_settings(write(tmp_path, "[symbols]\n"), env={})
    body = '[defaults]\nstart = "2024-01-01"\n[symbols]\n"BTC/USDT" = {}\n[backfill]\npartitions_per_run = 0\n'
    with pytest.raises(ConfigError, match="partitions_per_run must be a positive whole number"):
        load_settings(write(tmp_path, body), env={})


def test_freshness_windows_are_read_and_checked(tmp_path):
    body = '[defaults]\nstart = "2024-01-01"\n[symbols]\n"BTC/USDT" = {}\n[freshness]\n'
    settings = load_settings(write(tmp_path, body + "warn_after_minutes = 20\nfail_after_minutes = 90\n"), env={})
    assert (settings.freshness_warn_minutes, settings.freshness_fail_minutes) == (20, 90)
    with pytest.raises(ConfigError, match=r"warn_after_minutes \(90\) must be below fail_after_minutes \(60\)"):
        load_settings(write(tmp_path, body + "warn_after_minutes = 90\nfail_after_minutes = 60\n"), env={})


def test_accuracy_and_anomaly_settings_are_read_with_defaults(tmp_path):
    body = '[defaults]\nstart = "2024-01-01"\n[symbols]\n"BTC/USDT" = {}\n'
    defaults = load_settings(write(tmp_path, body), env={})
    assert (defaults.accuracy, defaults.anomaly) == (AccuracySettings(), AnomalySettings())
    assert load_settings(DEFAULT_CONFIG, env={}).accuracy == AccuracySettings("coingecko", 100.0, 12)
    settings = load_settings(write(tmp_path, body + '[accuracy]\nreference = "okx"\ntolerance_bps = 25.5\n'
                                   'sample_size = 3\n[anomaly]\nk = 6\nwindow_candles = 60\nzero_volume_streak = 5\n'),
                             env={})
    assert settings.accuracy == AccuracySettings(reference="okx", tolerance_bps=25.5, sample_size=3)
    assert settings.anomaly == AnomalySettings(k=6.0, window_candles=60, zero_volume_streak=5)


def test_alert_settings_are_read_with_defaults_and_checked_at_load(tmp_path):
    from datafactory_assets.settings import AlertSettings

    body = '[defaults]\nstart = "2024-01-01"\n[symbols]\n"BTC/USDT" = {}\n'
    assert load_settings(write(tmp_path, body), env={}).alerts == AlertSettings()
    settings = load_settings(write(tmp_path, body + '[alerts]\nchecks = ["gaps"]\ngaps_threshold = 0\n'
                                   'repeat_interval_s = 600\nsensor_interval_s = 5\n'), env={})
    assert settings.alerts == AlertSettings(checks=("gaps",), gaps_threshold=0, repeat_interval_s=600,
                                            sensor_interval_s=5)
    for section, message in [
        ("[alerts]\nchecks = []", "[alerts] checks must be a non-empty list of check names, got []"),
        ('[alerts]\nchecks = "gaps"', "[alerts] checks must be a non-empty list of check names, got 'gaps'"),
        ("[alerts]\ngaps_threshold = -1", "[alerts] gaps_threshold must be a whole number >= 0, got -1"),
        ("[alerts]\nrepeat_interval_s = 0", "repeat_interval_s must be a positive whole number, got 0"),
        ("[alerts]\nslack_url = 1", "[alerts] has unknown keys ['slack_url']"),
    ]:
        with pytest.raises(ConfigError) as caught:
            load_settings(write(tmp_path, body + section + "\n"), env={})
        assert message in str(caught.value), section


def test_timeframes_that_tile_an_hour():
    assert [timeframe_to_ms(t) for t in ("1m", "15m", "1h")] == [60_000, 900_000, 3_600_000]


def test_source_budgets_cover_the_venues_and_the_price_reference(tmp_path):
    body = '[defaults]\nstart = "2024-01-01"\n[symbols]\n"BTC/USDT" = {}\n'
    settings = load_settings(write(tmp_path, body + "[sources.okx]\nbudget = 10\n[sources.coingecko]\nbudget = 500\n"),
                             env={})
    assert settings.resilience.budgets == {"okx": 10, "coingecko": 500}
    with pytest.raises(ConfigError, match=r"\[sources.cmc\] is not a known source; known: \[.*'yahoo', 'coingecko'\]"):
        load_settings(write(tmp_path, body + "[sources.cmc]\nbudget = 10\n"), env={})
    with pytest.raises(ConfigError, match="budget must be a positive whole number, got True"):
        load_settings(write(tmp_path, body + "[sources.okx]\nbudget = true\n"), env={})


def test_real_binance_bases_of_one_letter_or_with_digits_are_accepted(tmp_path):
    path = write(tmp_path, '[defaults]\nstart = "2024-01-01"\n[symbols]\n"W/USDT" = {}\n"S/USDT" = {}\n'
                           '"1000SATS/USDT" = {}\n')
    assert [s.asset_name for s in load_settings(path, env={}).symbols] == ["w_usdt", "s_usdt", "1000sats_usdt"]
