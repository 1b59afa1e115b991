"""The coverage asset over a warehouse filled through the real ingest path against the emulator: completeness counts
from the configured start (or the listing) to the last closed hour, and keeps not yet fetched, missing (asked, not
served) and confirmed empty apart."""

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from datafactory_assets.assets import build_coverage_asset
from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.hourly import open_hour
from datafactory_assets.emulator.server import Emulator
from datafactory_assets.resilience.chain import ChainExhaustedError
from datafactory_assets.settings import Settings, SymbolSettings
from datafactory_assets.sources.resource import SourcesResource
from datafactory_tests.helpers import ms, symbol_settings

START = datetime(2024, 3, 1, 10, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def coverage_metadata(warehouse, *symbols: SymbolSettings) -> dict:
    """The metadata of one real materialization of the coverage asset for the configured `symbols`."""
    settings = Settings(symbols=symbols, warehouse_path=None, emulator_url=None, partitions_per_run=720,
                        schedule_minute=5, config_path=None)
    result = dg.materialize([build_coverage_asset(settings)], resources={"warehouse": warehouse},
                            instance=dg.DagsterInstance.ephemeral())
    (mat,) = result.asset_materializations_for_node("coverage")
    return {key: value.value for key, value in mat.metadata.items()}


def expected_since(start: datetime, meta: dict) -> int:
    """1m candles from `start` to the hour the materialization counted to (its `until`)."""
    return (datetime.fromtimestamp(meta["until"], UTC) - start) // MINUTE


def test_a_month_configured_and_a_day_stored_is_far_from_complete_and_the_rest_not_yet_fetched(warehouse, sources):
    closed = open_hour()
    start = closed - timedelta(days=30)
    btc, eth = symbol_settings(start=start), symbol_settings("ETH/USDT", start=start)  # ETH/USDT never ran
    ingest_window(btc, start=closed - timedelta(days=1), end=closed, sources=sources, warehouse=warehouse)
    meta = coverage_metadata(warehouse, btc, eth)
    expected = expected_since(start, meta)
    assert expected >= 30 * 24 * 60
    assert meta["btc_usdt/completeness_pct"] == round(100 * 1440 / expected, 4) < 3.4
    assert (meta["btc_usdt/missing"], meta["btc_usdt/not_fetched"], meta["btc_usdt/confirmed_empty"]) == (
        0, expected - 1440, 0)
    assert (meta["eth_usdt/completeness_pct"], meta["eth_usdt/not_fetched"]) == (0.0, expected)
    assert (meta["symbols"], meta["rows"], meta["expected"]) == (2, 1440, 2 * expected)
    assert meta["completeness_pct"] == round(100 * 1440 / (2 * expected), 4)
    assert meta["summary"].startswith(f"{meta['completeness_pct']:.1f}% complete: 1,440 of {2 * expected:,} candle(s)")
    table = meta["coverage"].splitlines()
    assert table[0] == ("| symbol | dataset | counted_from | from_ts | expected | rows | confirmed_empty | missing "
                        "| not_fetched | completeness_pct | last_ts | latest_source | note |")
    assert table[2].startswith(f"| BTC/USDT | candles | start | {start:%Y-%m-%d %H:%M} | {expected} | 1440 | 0 | 0 |")
    assert table[3] == (f"| ETH/USDT | candles | start | {start:%Y-%m-%d %H:%M} | {expected} | 0 | 0 | 0 | {expected} "
                        "| 0.0 |  |  |  |")


def test_minutes_a_request_covered_and_no_source_served_are_missing(warehouse, emulator):
    btc = symbol_settings(start=START)
    sources = SourcesResource(emulator_url=emulator.url, retry_attempts=1)
    emulator.add_fault("binance:status:503")
    with pytest.raises(ChainExhaustedError):  # an outage: asked, and nothing came
        ingest_window(btc, start=START, end=START + timedelta(hours=1), sources=sources, warehouse=warehouse)
    emulator.clear_faults()
    ingest_window(btc, start=START + timedelta(hours=1), end=START + timedelta(hours=2), sources=sources,
                  warehouse=warehouse)
    meta = coverage_metadata(warehouse, btc)
    expected = expected_since(START, meta)
    assert (meta["rows"], meta["btc_usdt/missing"], meta["btc_usdt/confirmed_empty"]) == (60, 60, 0)
    assert meta["btc_usdt/not_fetched"] == expected - 120
    assert meta["btc_usdt/completeness_pct"] == round(100 * 60 / expected, 4)


def test_holes_are_missing_until_confirmed_and_then_count_as_held(tmp_path, warehouse):
    alt = symbol_settings("ALT/BTC", start=START)
    recorded = [[ms(START) + m * 60_000, 1.0, 1.5, 0.5, 1.2, 7.0] for m in range(60) if m not in {10, 11, 40}]
    replay = tmp_path / "alt.json"
    replay.write_text(json.dumps(recorded))
    said = []
    with Emulator(replay={"ALT/BTC": replay}) as venue:
        for _ in range(2):  # holes seen twice, an hour apart, are the venue's
            ingest_window(alt, start=START, end=START + timedelta(hours=1),
                          sources=SourcesResource(emulator_url=venue.url), warehouse=warehouse)
            said.append(coverage_metadata(warehouse, alt))
            with warehouse.connect() as conn:  # the hour between the fetches, which the test cannot wait
                conn.execute("UPDATE known_gaps SET confirmed_at = confirmed_at - INTERVAL 61 MINUTE")
    once, confirmed = said
    assert (once["rows"], once["alt_btc/missing"], once["alt_btc/confirmed_empty"]) == (57, 3, 0)
    expected = expected_since(START, confirmed)
    assert (confirmed["alt_btc/missing"], confirmed["alt_btc/confirmed_empty"]) == (0, 3)
    assert confirmed["alt_btc/not_fetched"] == expected - 60
    assert confirmed["alt_btc/completeness_pct"] == round(100 * 60 / expected, 4)


def test_a_pair_listed_after_the_configured_start_counts_from_its_listing_and_says_so(warehouse, emulator):
    kaito = SymbolSettings(symbol="KAITO/USDT", timeframe="1m", start=datetime(2025, 1, 1, tzinfo=UTC),
                           sources=("binance", "okx"))
    listed = datetime(2025, 3, 10, 12, 30, tzinfo=UTC)  # the emulator's listing of KAITO/USDT
    sources = SourcesResource(emulator_url=emulator.url)
    before = ingest_window(kaito, start=datetime(2025, 3, 1, tzinfo=UTC), end=datetime(2025, 3, 1, 1, tzinfo=UTC),
                           sources=sources, warehouse=warehouse)  # every venue empty: the run dates the listing
    assert before.before_listing == listed.replace(tzinfo=None)
    ingest_window(kaito, start=datetime(2025, 3, 10, 12, tzinfo=UTC), end=datetime(2025, 3, 10, 14, tzinfo=UTC),
                  sources=sources, warehouse=warehouse)
    meta = coverage_metadata(warehouse, kaito)
    expected = expected_since(listed, meta)
    # asked before the listing (March 1st, and 12:00-12:30), but nothing is expected there: not missing
    assert (f"| KAITO/USDT | candles | listing | {listed:%Y-%m-%d %H:%M} | {expected} | 90 | 0 | 0 | "
            f"{expected - 90} |") in meta["coverage"]
    assert meta["kaito_usdt/completeness_pct"] == round(100 * 90 / expected, 4)
    with warehouse.connect() as conn:  # a listing before the configured start changes nothing
        conn.execute("UPDATE symbols SET listed_ts = '2020-01-01' WHERE symbol = 'KAITO/USDT'")
    assert "| KAITO/USDT | candles | start | 2025-01-01 00:00 |" in coverage_metadata(warehouse, kaito)["coverage"]


def test_the_asset_status_and_the_history_line_say_the_same(tmp_path, warehouse, emulator, monkeypatch):
    import io
    import time

    from click.testing import CliRunner

    from datafactory_assets.cli import main
    from datafactory_assets.progress import report_history
    from datafactory_assets.settings import load_settings

    config = tmp_path / "datafactory.toml"
    config.write_text('[defaults]\nstart = "2024-03-01"\nsources = ["binance"]\n[symbols]\n"BTC/USDT" = {}\n'
                      '"ETH/USDT" = {}\n')
    env = {"DATAFACTORY_CONFIG": str(config), "DATAFACTORY_WAREHOUSE": warehouse.path}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    sources = SourcesResource(emulator_url=emulator.url, retry_attempts=1)
    ingest_window(settings.symbols[0], start=START, end=START + timedelta(hours=2), sources=sources,
                  warehouse=warehouse)
    emulator.add_fault("binance:status:503")
    with pytest.raises(ChainExhaustedError):
        ingest_window(settings.symbols[1], start=START, end=START + timedelta(hours=1), sources=sources,
                      warehouse=warehouse)

    def said() -> tuple[str, str, str]:
        summary = coverage_metadata(warehouse, *settings.symbols)["summary"]
        status = CliRunner().invoke(main, ["status"]).stdout.splitlines()[-1]
        out = io.StringIO()
        stop = report_history(env, out=out, every_s=60)
        deadline = time.monotonic() + 30
        while not out.getvalue():
            assert time.monotonic() < deadline, "no history line"
            time.sleep(0.02)
        stop.set()
        return summary, status, out.getvalue().splitlines()[0]

    hour = open_hour()
    summary, status, history = said()
    if open_hour() != hour:  # an hour closed in between: ask all three again
        summary, status, history = said()
    assert "120 stored" in summary and "60 missing (asked, not served)" in summary
    assert status == f"2 symbol(s): {summary}" and history == f"history: {summary}"
