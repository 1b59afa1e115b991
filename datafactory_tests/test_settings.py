"""The configuration: what loads, and every mistake refused at load with one line naming the file, the entry as TOML
writes it and what the entry allows; through the real `datafactory` command and Dagster's own loader too."""

import os
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from datafactory_assets.settings import (
    DEFAULT_CONFIG,
    REPO_ROOT,
    AccuracySettings,
    AlertSettings,
    AnomalySettings,
    ConfigError,
    SymbolSettings,
    load_settings,
    timeframe_to_ms,
)
from datafactory_assets.settings_models import ConfigFile

BASE = '[defaults]\nstart = "2024-01-01"\n[symbols]\n"BTC/USDT" = {}\n'
BIN = Path(sys.executable).parent


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "datafactory.toml"
    path.write_text(body)
    return path


def refusal(path: Path) -> str:
    """The one line a bad file gets, without the file's name (checked here) that starts it."""
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    return message.removeprefix(f"{path}: ")


def test_repository_config_loads_the_default_universe():
    settings = load_settings(DEFAULT_CONFIG, env={})
    assert [s.symbol for s in settings.symbols] == ["BTC/USDT", "ETH/USDT", "SOL/USDT", "ADA/USDT", "BTC/USDT:USDT",
                                                    "ETH/USDT:USDT"]
    assert {s.timeframe for s in settings.symbols} == {"1m"}
    assert settings.symbols[0].asset_name == "btc_usdt"
    assert settings.warehouse_path == DEFAULT_CONFIG.parent / "data" / "warehouse.duckdb"
    assert settings.emulator_url is None


def test_the_documented_examples_load(tmp_path):
    """Every `datafactory.toml` the README and docs/ show loads as written; a fragment (no [symbols]) is checked as
    the part of a file it is."""
    blocks = [(doc.name, part.split("```")[0])
              for doc in (REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md")))
              for part in doc.read_text().split("```toml\n")[1:]]
    assert len(blocks) >= 2
    for name, block in blocks:
        if "[symbols]" in block:
            assert load_settings(write(tmp_path, block), env={}).symbols, name
        else:
            ConfigFile.model_validate(tomllib.loads(block))


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
    path = write(tmp_path, BASE + '[warehouse]\npath = "w.db"\n')
    assert load_settings(path, env={}).warehouse_path == tmp_path / "w.db"


def test_a_start_with_an_offset_is_converted_to_utc_never_read_as_utc(tmp_path):
    for start in ('"2025-01-01T05:00:00+05:00"', "2025-01-01T05:00:00+05:00", '"2025-01-01T00:00:00Z"',
                  "2025-01-01", '"2025-01-01"', "2025-01-01T00:00:00"):
        path = write(tmp_path, f'[symbols]\n"BTC/USDT" = {{ start = {start} }}\n')
        (btc,) = load_settings(path, env={}).symbols
        assert btc.start == datetime(2025, 1, 1, tzinfo=UTC), start


# Each mistake of issue 9, item 6 (and the ones the hand-written checks refused before), with its whole line.
MISTAKES = [
    # unknown tables and keys, everywhere
    ('[warehous]\npath = "x"', "[warehous]: unknown table; known: defaults, symbols, universe, warehouse, backfill, "
                               "schedule, resilience, sources, freshness, accuracy, anomaly, alerts, healing"),
    ('[warehouse]\npth = "x"', "[warehouse].pth: unknown key; known: path"),
    ("[backfill]\npartition_per_run = 3", "[backfill].partition_per_run: unknown key; known: partitions_per_run"),
    ("[schedule]\nminute_of_the_hour = 3", "[schedule].minute_of_the_hour: unknown key; known: minute_of_hour"),
    ("[freshness]\nwarn_after_minute = 3",
     "[freshness].warn_after_minute: unknown key; known: warn_after_minutes, fail_after_minutes"),
    ('[symbols."ETH/USDT"]\ncolour = "red"', '[symbols."ETH/USDT"].colour: unknown key; known: timeframe, start, '
                                             "sources, datasets, renamed_from"),
    ("[sources.okx]\nbudgt = 3", "[sources.okx].budgt: unknown key; known: budget"),
    ("[accuracy]\ntolerance = 50", "[accuracy].tolerance: unknown key; known: reference, tolerance_bps, sample_size, "
     "checks_per_hour"),
    ("[anomaly]\nwindow = 10", "[anomaly].window: unknown key; known: k, window_candles, zero_volume_streak"),
    ("[alerts]\nslack_url = 1",
     "[alerts].slack_url: unknown key; known: checks, gaps_threshold, repeat_interval_s, sensor_interval_s"),
    ("[healing]\nordr = 1", "[healing].ordr: unknown key; known: enabled, interval_s, max_runs_per_tick, order, "
                            "max_attempts, backoff_s, max_backoff_s, settle_minutes"),
    ("[resilience]\nretries = 1", "[resilience].retries: unknown key; known: retry_attempts, retry_backoff_s, "
                                  "retry_max_backoff_s, breaker_fail_max, breaker_reset_s, ban_s, budget_margin"),
    ('[universe]\nvenue = "binance"\nquote = "USDT"\ntop = 5\nrank = 1',
     "[universe].rank: unknown key; known: venue, quote, top, cache"),
    # types and bounds
    ('[symbols."ETH/USDT"]\ntimeframe = 1',
     '[symbols."ETH/USDT"].timeframe: must be a timeframe that divides one hour, such as "1m", "5m" or "1h", got 1'),
    ('"ETH/USDT" = { timeframe = "7m" }',
     "[symbols.\"ETH/USDT\"].timeframe: timeframe '7m' must divide one hour (1m, 2m, 3m, 5m, 15m, 30m, 1h ...)"),
    ('"ETH/USDT" = { timeframe = "7x" }',
     "[symbols.\"ETH/USDT\"].timeframe: unknown timeframe '7x': use minutes or hours such as '1m', '5m', '1h'"),
    ("[resilience]\nretry_attempts = 2.5", "[resilience].retry_attempts: must be a whole number from 1 to 20, got 2.5"),
    ("[resilience]\nbudget_margin = 50.0", "[resilience].budget_margin: must be a share of each venue's request "
                                           "budget above 0 and at most 1 (0.9 = 90%, more would exceed the venue's "
                                           "limit), got 50.0"),
    ("[resilience]\nretry_backoff_s = 10\nretry_max_backoff_s = 5",
     "[resilience]: retry_max_backoff_s (5) must be at least retry_backoff_s (10)"),
    ("[resilience]\nban_s = inf", "[resilience].ban_s: must be a number above 0 and at most 86,400, got inf"),
    ('"ETH/USDT" = { sources = ["okx", "bybit", "okx"] }',
     '[symbols."ETH/USDT"].sources: lists okx more than once: a chain names each source once'),
    ('"ETH/USDT" = { sources = ["nowhere"] }', '[symbols."ETH/USDT"].sources[0]: must be one of "binance", '
                                               '"binance_archive", "okx", "bybit", "kraken", "coinbase", "yahoo", '
                                               'got "nowhere"'),
    ('"ETH/USDT" = { sources = [] }', '[symbols."ETH/USDT"].sources: must be a non-empty list of distinct sources '
                                      "out of binance, binance_archive, okx, bybit, kraken, coinbase, yahoo, got []"),
    ("[anomaly]\nwindow_candles = 9223372036854775807",
     "[anomaly].window_candles: must be a whole number from 10 to 43,200, got 9223372036854775807"),
    ("[anomaly]\nzero_volume_streak = 1",
     "[anomaly].zero_volume_streak: must be a whole number from 2 to 1,440, got 1"),
    ("[anomaly]\nk = -1", "[anomaly].k: must be a number above 0 and at most 100, got -1"),
    ("[accuracy]\nsample_size = true", "[accuracy].sample_size: must be a whole number from 1 to 60, got true"),
    ('[accuracy]\ntolerance_bps = "50"', '[accuracy].tolerance_bps: must be a number above 0 and at most 10,000, '
                                         'got "50"'),
    ('[accuracy]\nreference = "cmc"', '[accuracy].reference: must be one of "coingecko", "binance", '
                                      '"binance_archive", "okx", "bybit", "kraken", "coinbase", "yahoo", got "cmc"'),
    ("[backfill]\npartitions_per_run = 0", "[backfill].partitions_per_run: must be a whole number from 1 to 8,784, "
                                           "got 0"),
    ("[schedule]\nminute_of_hour = 60", "[schedule].minute_of_hour: must be a whole number from 0 to 59, got 60"),
    ("[freshness]\nwarn_after_minutes = 90\nfail_after_minutes = 60",
     "[freshness]: warn_after_minutes (90) must be below fail_after_minutes (60)"),
    ('[healing]\norder = "random"', '[healing].order: must be one of "newest", "oldest", got "random"'),
    ("[healing]\nenabled = 1", "[healing].enabled: must be true or false, got 1"),
    ("[alerts]\nchecks = []", '[alerts].checks: must be a non-empty list of check names such as ["gaps", '
                              '"accuracy"], got []'),
    ("[alerts]\ngaps_threshold = -1", "[alerts].gaps_threshold: must be a whole number from 0 to 525,600, got -1"),
    ("[sources.cmc]\nbudget = 10", '[sources.cmc]: unknown name; it must be one of "binance", "binance_archive", '
                                   '"okx", "bybit", "kraken", "coinbase", "yahoo", "coingecko"'),
    ("[sources.okx]\nbudget = true", "[sources.okx].budget: must be a whole number from 1 to 1,000,000, got true"),
    ('[universe]\nvenue = "binance"', '[universe].quote: missing; it must be a currency in capitals such as "USDT"; '
                                      "[universe].top: missing; it must be a whole number from 1 to 1,000"),
    ('"btc-usdt" = {}', '[symbols."btc-usdt"]: is malformed: write BASE/QUOTE in capitals, such as "BTC/USDT"'),
    ('"ETH/USDT" = 5', '[symbols."ETH/USDT"]: must be a table, got 5'),
    # starts
    ('"ETH/USDT" = { start = "2025-01-01T05:00:00+05:30" }',
     '[symbols."ETH/USDT"].start: 2025-01-01T05:00:00+05:30 is 2024-12-31T23:30:00Z in UTC, which is not a whole '
     "hour"),
    ('"ETH/USDT" = { start = "2024-01-01T10:30:00" }',
     '[symbols."ETH/USDT"].start: 2024-01-01T10:30:00 is 2024-01-01T10:30:00Z in UTC, which is not a whole hour'),
    ('"ETH/USDT" = { start = "2024-13-01" }',
     "[symbols.\"ETH/USDT\"].start: '2024-13-01' is not a date like 2024-01-01 or 2024-01-01T05:00:00Z"),
    ('"ETH/USDT" = { start = 2024 }',
     '[symbols."ETH/USDT"].start: must be a date like 2024-01-01 or 2024-01-01T05:00:00Z, got 2024'),
    ('"ETH/USDT" = { start = "1970-01-01" }', '[symbols."ETH/USDT"].start: 1970-01-01 is before 2009-01-03, '
                                              "Bitcoin's first block"),
]


@pytest.mark.parametrize(("mistake", "line"), MISTAKES, ids=[m for m, _ in MISTAKES])
def test_each_mistake_is_one_line_naming_the_file_the_entry_and_what_it_allows(tmp_path, mistake, line):
    assert refusal(write(tmp_path, BASE + mistake + "\n")) == line


@pytest.mark.parametrize(("mistake", "line"), [
    ("timeframe = 1", '[defaults].timeframe: must be a timeframe that divides one hour, such as "1m", "5m" or "1h", '
                      "got 1"),
    ('sources = ["binance", "okx", "binance"]',
     "[defaults].sources: lists binance more than once: a chain names each source once"),
    ('start = "2025-01-01T05:00:00+05:30"',
     "[defaults].start: 2025-01-01T05:00:00+05:30 is 2024-12-31T23:30:00Z in UTC, which is not a whole hour"),
    ("pth = 1", "[defaults].pth: unknown key; known: timeframe, start, sources, datasets"),
])
def test_errors_in_defaults_name_defaults_not_a_symbol(tmp_path, mistake, line):
    start = "" if mistake.startswith("start") else 'start = "2024-01-01"\n'
    body = f'[defaults]\n{start}{mistake}\n[symbols]\n"BTC/USDT" = {{}}\n"ETH/USDT" = {{}}\n'
    assert refusal(write(tmp_path, body)) == line


def test_a_top_level_key_and_several_mistakes_stay_one_line(tmp_path):
    assert refusal(write(tmp_path, 'colour = "red"\n' + BASE)) == (
        "colour: unknown key; known: defaults, symbols, universe, warehouse, backfill, schedule, resilience, "
        "sources, freshness, accuracy, anomaly, alerts, healing")
    body = BASE + "[anomaly]\nk = 0\nwindow_candles = 0\nzero_volume_streak = 0\n[healing]\norder = 1\n"
    assert refusal(write(tmp_path, body)) == (
        "[anomaly].k: must be a number above 0 and at most 100, got 0; [anomaly].window_candles: must be a whole "
        "number from 10 to 43,200, got 0; [anomaly].zero_volume_streak: must be a whole number from 2 to 1,440, "
        "got 0 (and 1 more)")


def test_start_in_the_future_is_refused(tmp_path):
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%d")
    path = write(tmp_path, f'[symbols]\n"BTC/USDT" = {{ start = "{tomorrow}" }}\n')
    assert refusal(path) == f'[symbols."BTC/USDT"].start: {tomorrow} is in the future'


def test_missing_file_unreadable_file_bad_toml_and_empty_universe_are_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", env={})
    with pytest.raises(ConfigError, match=f"configuration file {tmp_path} cannot be read: Is a directory"):
        load_settings(tmp_path, env={})
    with pytest.raises(ConfigError, match=r"is not valid TOML: .*\(at line 1, column 9\)"):
        load_settings(write(tmp_path, "[symbols\n"), env={})
    assert refusal(write(tmp_path, "[symbols]\n")) == "[symbols] lists no symbols and there is no [universe]"
    assert refusal(write(tmp_path, '[symbols]\n"BTC/USDT" = {}\n')) == (
        '[symbols."BTC/USDT"].start: missing; set it or [defaults] start')


def test_freshness_windows_are_read(tmp_path):
    settings = load_settings(write(tmp_path, BASE + "[freshness]\nwarn_after_minutes = 20\nfail_after_minutes = 90\n"),
                             env={})
    assert (settings.freshness_warn_minutes, settings.freshness_fail_minutes) == (20, 90)


def test_accuracy_and_anomaly_settings_are_read_with_defaults(tmp_path):
    defaults = load_settings(write(tmp_path, BASE), env={})
    assert (defaults.accuracy, defaults.anomaly) == (AccuracySettings(), AnomalySettings())
    assert load_settings(DEFAULT_CONFIG, env={}).accuracy == AccuracySettings(reference="coingecko",
                                                                              tolerance_bps=100.0, sample_size=12)
    settings = load_settings(write(tmp_path, BASE + '[accuracy]\nreference = "okx"\ntolerance_bps = 25.5\n'
                                   'sample_size = 3\n[anomaly]\nk = 6\nwindow_candles = 60\nzero_volume_streak = 5\n'),
                             env={})
    assert settings.accuracy == AccuracySettings(reference="okx", tolerance_bps=25.5, sample_size=3)
    assert settings.anomaly == AnomalySettings(k=6.0, window_candles=60, zero_volume_streak=5)


def test_alert_settings_are_read_with_defaults(tmp_path):
    assert load_settings(write(tmp_path, BASE), env={}).alerts == AlertSettings()
    settings = load_settings(write(tmp_path, BASE + '[alerts]\nchecks = ["gaps"]\ngaps_threshold = 0\n'
                                   'repeat_interval_s = 600\nsensor_interval_s = 5\n'), env={})
    assert settings.alerts == AlertSettings(checks=("gaps",), gaps_threshold=0, repeat_interval_s=600,
                                            sensor_interval_s=5)


def test_timeframes_that_tile_an_hour():
    assert [timeframe_to_ms(t) for t in ("1m", "15m", "1h")] == [60_000, 900_000, 3_600_000]


def test_source_budgets_cover_the_venues_and_the_price_reference(tmp_path):
    settings = load_settings(write(tmp_path, BASE + "[sources.okx]\nbudget = 10\n[sources.coingecko]\nbudget = 500\n"),
                             env={})
    assert settings.resilience.budgets == {"okx": 10, "coingecko": 500}


def test_real_binance_bases_of_one_letter_or_with_digits_are_accepted(tmp_path):
    path = write(tmp_path, '[defaults]\nstart = "2024-01-01"\n[symbols]\n"W/USDT" = {}\n"S/USDT" = {}\n'
                           '"1000SATS/USDT" = {}\n')
    assert [s.asset_name for s in load_settings(path, env={}).symbols] == ["w_usdt", "s_usdt", "1000sats_usdt"]


PERPETUAL_MISTAKES = [
    ('"BTC/USD:BTC" = {}', '[symbols."BTC/USD:BTC"]: is an inverse contract (settled in BTC, not in its quote USD): '
                           "only spot pairs (BASE/QUOTE) and USDⓈ-M perpetuals (BASE/QUOTE:QUOTE) are collected"),
    ('"BTC/USDT:USDT-250328" = {}', '[symbols."BTC/USDT:USDT-250328"]: is a dated future or an option (expiry '
                                    "250328): only spot pairs (BASE/QUOTE) and USDⓈ-M perpetuals (BASE/QUOTE:QUOTE) "
                                    "are collected"),
    ('"btc/usdt:usdt" = {}', '[symbols."btc/usdt:usdt"]: is malformed: write BASE/QUOTE:QUOTE in capitals, such as '
                             '"BTC/USDT:USDT"'),
    ('"ETH/USDT:USDT" = { datasets = ["candles"] }',
     '[symbols."ETH/USDT:USDT"].datasets: "candles" collects spot pairs, and ETH/USDT:USDT is a USDⓈ-M perpetual; a '
     'USDⓈ-M perpetual may collect: "perp_candles", "mark_candles", "index_candles", "premium_candles", '
     '"funding_rates", "open_interest"'),
    ('"ETH/USDT" = { datasets = ["funding_rates"] }',
     '[symbols."ETH/USDT"].datasets: "funding_rates" collects USDⓈ-M perpetuals, and ETH/USDT is a spot pair; a '
     'spot pair may collect: "candles"'),
    ('"ETH/USDT" = { datasets = ["volume_profile"] }',
     '[symbols."ETH/USDT"].datasets[0]: must be one of "candles", "perp_candles", "mark_candles", "index_candles", '
     '"premium_candles", "funding_rates", "open_interest", got "volume_profile"'),
    ('"ETH/USDT" = { datasets = ["candles", "candles"] }',
     '[symbols."ETH/USDT"].datasets: lists candles more than once: each dataset is collected once'),
    ('"ETH/USDT" = { datasets = [] }',
     '[symbols."ETH/USDT"].datasets: must be a non-empty list of distinct datasets out of candles, perp_candles, '
     'mark_candles, index_candles, premium_candles, funding_rates, open_interest, got []'),
    ('"ETH/USDT" = { datasets = "candles" }',
     '[symbols."ETH/USDT"].datasets: must be a non-empty list of distinct datasets out of candles, perp_candles, '
     'mark_candles, index_candles, premium_candles, funding_rates, open_interest, got "candles"'),
]


@pytest.mark.parametrize(("mistake", "line"), PERPETUAL_MISTAKES, ids=[m for m, _ in PERPETUAL_MISTAKES])
def test_instruments_and_their_datasets_are_refused_in_one_line_naming_symbol_dataset_and_what_is_allowed(
        tmp_path, mistake, line):
    assert refusal(write(tmp_path, BASE + mistake + "\n")) == line


def test_datasets_come_from_the_symbol_then_defaults_then_the_instruments_market(tmp_path):
    spot = load_settings(write(tmp_path, BASE + '"ETH/USDT" = { datasets = ["candles"] }\n'), env={}).symbols
    assert [(s.symbol, s.datasets, s.instrument.market) for s in spot] == [
        ("BTC/USDT", ("candles",), "spot"), ("ETH/USDT", ("candles",), "spot")]
    declared = load_settings(write(tmp_path, '[defaults]\nstart = "2024-01-01"\ndatasets = ["candles"]\n[symbols]\n'
                                             '"BTC/USDT" = {}\n'), env={})
    assert declared.symbols[0].datasets == ("candles",)
    # [defaults] is applied as written: a perpetual taking a spot dataset from it is told where that came from
    mixed = write(tmp_path, '[defaults]\nstart = "2024-01-01"\ndatasets = ["candles"]\n[symbols]\n"BTC/USDT" = {}\n'
                            '"BTC/USDT:USDT" = {}\n')
    assert refusal(mixed) == ('[defaults].datasets: "candles" collects spot pairs, and BTC/USDT:USDT is a USDⓈ-M '
                              'perpetual; a USDⓈ-M perpetual may collect: "perp_candles", "mark_candles", '
                              '"index_candles", "premium_candles", "funding_rates", "open_interest"')


def test_a_perpetual_collects_every_perpetual_dataset_unless_it_names_some(tmp_path):
    """What a perpetual collects by default follows the registry (every dataset of market "swap"), not a list of
    names in the settings."""
    every = ("perp_candles", "mark_candles", "index_candles", "premium_candles", "funding_rates", "open_interest")
    settings = load_settings(write(tmp_path, BASE + '"BTC/USDT:USDT" = {}\n"1000PEPE/USDT:USDT" = '
                                                    '{ datasets = ["mark_candles"] }\n'), env={})
    assert [(s.symbol, s.asset_name, s.instrument.settle, s.instrument.market, s.datasets)
            for s in settings.symbols] == [
        ("BTC/USDT", "btc_usdt", None, "spot", ("candles",)),
        ("BTC/USDT:USDT", "btc_usdt", "USDT", "swap", every),
        ("1000PEPE/USDT:USDT", "1000pepe_usdt", "USDT", "swap", ("mark_candles",)),
    ]


def test_a_chain_that_serves_none_of_a_datasets_is_refused_in_one_line_naming_symbol_and_venues(tmp_path):
    """Before, a perpetual taking Kraken and Coinbase from [defaults] loaded, and every run of it failed: the chain
    leaves out venues with no perpetual market, so it was empty."""
    spot_only = '[defaults]\nstart = "2024-01-01"\nsources = ["kraken", "coinbase"]\n[symbols]\n"BTC/USDT" = {}\n'
    assert refusal(write(tmp_path, spot_only + '"ETH/USDT:USDT" = { datasets = ["funding_rates"] }\n')) == (
        "[defaults].sources: ETH/USDT:USDT collects funding_rates, which no source of its chain serves (kraken, "
        "coinbase have no USDⓈ-M perpetual market); add one of binance, okx, bybit")
    assert refusal(write(tmp_path, BASE + '"BTC/USDT:USDT" = { sources = ["yahoo", "kraken"], datasets = '
                                          '["perp_candles", "open_interest"] }\n')) == (
        '[symbols."BTC/USDT:USDT"].sources: BTC/USDT:USDT collects perp_candles, open_interest, which no source of '
        "its chain serves (kraken has no USDⓈ-M perpetual market); add one of binance, binance_archive, okx, bybit")
    assert refusal(write(tmp_path, BASE + '"BTC/USDT:USDT" = { sources = ["okx"], datasets = ["premium_candles", '
                                          '"mark_candles"] }\n')) == (
        '[symbols."BTC/USDT:USDT"].sources: BTC/USDT:USDT collects premium_candles, which no source of its chain '
        "serves (okx does not serve it); add one of binance, binance_archive, bybit")
    # a chain some of whose venues have no perpetual market is fine while another serves each dataset: the spot
    # pairs of [defaults] share it
    shared = load_settings(write(tmp_path, spot_only.replace('"kraken"', '"binance", "kraken"') +
                                 '"BTC/USDT:USDT" = {}\n'), env={})
    assert [s.sources for s in shared.symbols] == [("binance", "kraken", "coinbase")] * 2


def test_symbol_settings_built_in_code_carry_their_instrument_and_the_spot_default():
    symbol = SymbolSettings(symbol="S/USDT", timeframe="1m", start=datetime(2025, 1, 1, tzinfo=UTC),
                            sources=("binance",))
    assert (symbol.instrument.base, symbol.instrument.market, symbol.datasets, symbol.asset_name) == (
        "S", "spot", ("candles",), "s_usdt")


def test_the_shipped_configuration_collects_spot_candles_and_every_perpetual_dataset_of_two_perpetuals():
    settings = load_settings(DEFAULT_CONFIG, env={})
    assert {(s.instrument.market, s.datasets) for s in settings.symbols} == {
        ("spot", ("candles",)), ("swap", ("perp_candles", "mark_candles", "index_candles", "premium_candles",
                                          "funding_rates", "open_interest"))}
    assert [s.symbol for s in settings.symbols if s.instrument.market == "swap"] == ["BTC/USDT:USDT", "ETH/USDT:USDT"]


def run_broken(tmp_path: Path, *command: str) -> subprocess.CompletedProcess:
    """`command` in a subprocess, the real entry point, with DATAFACTORY_CONFIG naming a file with a typo'd table."""
    config = write(tmp_path, BASE + '[warehous]\npath = "x.duckdb"\n')
    env = {**os.environ, "DATAFACTORY_CONFIG": str(config), "DATAFACTORY_WAREHOUSE": str(tmp_path / "w.duckdb")}
    return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_the_cli_says_one_line_for_a_broken_config_and_its_help_still_works(tmp_path):
    line = f"Error: {tmp_path / 'datafactory.toml'}: [warehous]: unknown table; known: defaults, symbols,"
    for command in ("status", "gaps", "health", "up"):  # up: before it starts anything
        result = run_broken(tmp_path, str(BIN / "datafactory"), command)
        assert (result.returncode, result.stdout) == (1, ""), command
        assert result.stderr.startswith(line) and len(result.stderr.splitlines()) == 1, result.stderr
    result = run_broken(tmp_path, str(BIN / "datafactory"), "--help")
    assert (result.returncode, result.stderr) == (0, "")
    assert "Usage: datafactory" in result.stdout and "status" in result.stdout


def test_dagster_loading_the_code_location_shows_the_one_line_not_pydantics_dump(tmp_path):
    result = run_broken(tmp_path, str(BIN / "dg"), "check", "defs", "--target-path", str(REPO_ROOT))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert (f"ConfigError: {tmp_path / 'datafactory.toml'}: [warehous]: unknown table; known: defaults, symbols, "
            in output), output
    assert "validation error" not in output and "errors.pydantic.dev" not in output


RENAME = '"POL/USDT" = { renamed_from = RENAMES }\n'


@pytest.mark.parametrize(("renames", "line"), [
    ('[{ symbol = "MATIC/USDT", until = "2024-09-10T03:30:00Z" }]',
     '[symbols."POL/USDT"].renamed_from[0].until: 2024-09-10T03:30:00Z is 2024-09-10T03:30:00Z in UTC, which is not '
     "a whole hour"),
    ('[{ symbol = "MATICUSDT", until = "2024-09-10" }]',
     '[symbols."POL/USDT"].renamed_from[0].symbol: is malformed: write BASE/QUOTE in capitals, such as "BTC/USDT"'),
    ('[{ symbol = "MATIC/USDT", when = "2024-09-10" }]',
     '[symbols."POL/USDT"].renamed_from[0].until: missing; it must be a valid value; '
     '[symbols."POL/USDT"].renamed_from[0].when: unknown key; known: symbol, until'),
    ('[{ symbol = "A/USDT", until = "2024-09-10" }, { symbol = "B/USDT", until = "2024-09-01" }]',
     '[symbols."POL/USDT"].renamed_from: the renames must be listed oldest first, each `until` later than the one '
     "before: B/USDT until 2024-09-01 00:00 comes after A/USDT until 2024-09-10 00:00"),
    ('[{ symbol = "A/USDT", until = "2024-09-10" }, { symbol = "A/USDT", until = "2024-09-11" }]',
     '[symbols."POL/USDT"].renamed_from: lists A/USDT more than once: each earlier symbol is named once'),
    ('[{ symbol = "MATIC/USDT:USDT", until = "2024-09-10" }]',
     '[symbols."POL/USDT"].renamed_from: MATIC/USDT:USDT cannot be an earlier symbol of POL/USDT: it must be another '
     "symbol of the same market type"),
    ('"MATIC/USDT"', '[symbols."POL/USDT"].renamed_from: must be a valid value, got "MATIC/USDT"'),
], ids=["not a whole hour", "malformed symbol", "unknown key", "out of order", "twice", "other market", "not a list"])
def test_a_bad_rename_is_one_line(tmp_path, renames, line):
    assert refusal(write(tmp_path, BASE + RENAME.replace("RENAMES", renames))) == line


def test_a_rename_is_read_into_the_venue_symbols_of_each_part_of_a_window(tmp_path):
    renames = '[{ symbol = "MATIC/USDT", until = "2024-09-10T03:00:00Z" }]'
    pol = load_settings(write(tmp_path, BASE + RENAME.replace("RENAMES", renames)), env={}).symbols[-1]
    at = datetime(2024, 9, 10, 3, tzinfo=UTC)
    assert pol.renamed_from == (("MATIC/USDT", at),)
    assert pol.venue_symbols(at - timedelta(hours=2), at + timedelta(hours=1)) == [
        ("MATIC/USDT", at - timedelta(hours=2), at), ("POL/USDT", at, at + timedelta(hours=1))]
    assert pol.venue_symbols(at, at + timedelta(hours=1)) == [("POL/USDT", at, at + timedelta(hours=1))]
    assert refusal(write(tmp_path, '[defaults]\nstart = "2024-01-01"\nrenamed_from = []\n')).startswith(
        "[defaults].renamed_from: unknown key")
