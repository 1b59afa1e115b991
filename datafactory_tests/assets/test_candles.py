"""Candle assets materialized through Dagster with the real ccxt client against the exchange emulator."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl
import pytest

from datafactory_assets.assets import build_candle_asset
from datafactory_assets.checks import GAPS, VALIDATION
from datafactory_assets.datasets import SPOT_CANDLES
from datafactory_assets.emulator.candles import synthetic_candles
from datafactory_assets.emulator.server import Emulator
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse import queries
from datafactory_tests.helpers import ms, symbol_settings

BTC = symbol_settings("BTC/USDT")
HOUR = datetime(2024, 3, 1, 10, tzinfo=UTC)
VALUES = ["open", "high", "low", "close", "volume"]


def materialize(asset, *, warehouse, sources, partition_key=None, first=None, last=None, raise_on_error=True):
    tags = {} if first is None else {"dagster/asset_partition_range_start": first,
                                      "dagster/asset_partition_range_end": last}
    return dg.materialize([asset], partition_key=partition_key, tags=tags, raise_on_error=raise_on_error,
                          resources={"warehouse": warehouse, "sources": sources},
                          instance=dg.DagsterInstance.ephemeral())


def stored(warehouse, symbol="BTC/USDT", start=HOUR, hours=1) -> pl.DataFrame:
    with warehouse.connect(read_only=True) as conn:
        return queries.window_candles(conn, symbol, start, start + timedelta(hours=hours))


def expected(symbol="BTC/USDT", start=HOUR, hours=1) -> pl.DataFrame:
    return synthetic_candles(symbol, ms(start), ms(start + timedelta(hours=hours)))


def check_results(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.event_specific_data.check_name: e.event_specific_data
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def test_a_partition_holds_exactly_the_venue_candles_and_rerunning_does_not_duplicate(warehouse, sources):
    asset = build_candle_asset(BTC, partitions_per_run=720)
    for _ in range(2):
        result = materialize(asset, warehouse=warehouse, sources=sources, partition_key="2024-03-01-10:00")
        rows = stored(warehouse)
        assert rows.height == 60
    want = expected()
    assert rows["ts"].dt.epoch("ms").to_list() == want["open_ms"].to_list()
    for column in VALUES:
        assert rows[column].to_list() == want[column].to_list(), column
    assert set(rows["source"]) == {"binance"}
    (mat,) = result.asset_materializations_for_node("candles__btc_usdt")
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert (meta["rows"], meta["expected_rows"], meta["missing_minutes"], meta["source"], meta["requests"]) == (
        60, 60, 0, "binance", 1)
    assert meta["fetch_latency_ms"] > 0
    checks = check_results(result)
    assert checks["validation"].passed and checks["gaps"].passed


def test_a_range_run_fetches_pages_and_writes_every_partition_once(warehouse, sources, emulator):
    asset = build_candle_asset(BTC, partitions_per_run=720)
    result = materialize(asset, warehouse=warehouse, sources=sources, first="2024-03-01-00:00",
                         last="2024-03-01-23:00")
    day = stored(warehouse, start=HOUR.replace(hour=0), hours=24)
    assert day.height == 1440
    assert day["close"].to_list() == expected(start=HOUR.replace(hour=0), hours=24)["close"].to_list()
    assert len(result.asset_materializations_for_node("candles__btc_usdt")) == 24
    klines = [r for r in emulator.request_log() if r["path"].endswith("/klines")]
    assert [int(r["query"]["limit"]) for r in klines] == [1000, 442]  # and one candle on each side, as evidence
    with warehouse.connect(read_only=True) as conn:
        log = conn.sql("SELECT source, symbol, rows, outcome FROM ingest_log ORDER BY window_start").fetchall()
    assert log == [("binance", "BTC/USDT", 1000, "ok"), ("binance", "BTC/USDT", 442, "ok")]  # one more each side


def test_a_garbled_answer_fails_the_run_and_leaves_stored_rows_intact(warehouse, sources, emulator):
    asset = build_candle_asset(BTC, partitions_per_run=720)
    materialize(asset, warehouse=warehouse, sources=sources, partition_key="2024-03-01-10:00")
    before = stored(warehouse)
    emulator.add_fault("binance:garbage")
    result = materialize(asset, warehouse=warehouse, sources=sources, partition_key="2024-03-01-10:00",
                         raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "not JSON" in str(failure.event_specific_data.error) and "left as they were" in str(
        failure.event_specific_data.error)
    assert stored(warehouse).equals(before)
    with warehouse.connect(read_only=True) as conn:
        # a garbled answer is retried once (it may be a one-off truncation), then the source has failed
        assert conn.sql("SELECT outcome, error_class FROM ingest_log WHERE outcome = 'error'").fetchall() == [
            ("error", "broken:BrokenAnswerError")] * 2


def write_replay(path, rows):
    path.write_text(json.dumps(rows))
    return path


def replay_rows(start=HOUR, skip=(), tweak=None):
    rows = []
    for minute in range(60):
        if minute in skip:
            continue
        row = [ms(start) + minute * 60_000, 10.0, 11.0, 9.0, 10.5, 4.0]
        rows.append(tweak(minute, row) if tweak else row)
    return rows


@pytest.mark.parametrize(
    ("tweak", "rule"),
    [
        (lambda m, r: [r[0], 10.0, 9.5, 9.0, 10.5, 4.0] if m == 7 else r, "ohlc_out_of_range"),
        (lambda m, r: [r[0], 10.0, 11.0, 9.0, 10.5, -4.0] if m == 7 else r, "negative_volume"),
        (lambda m, r: [r[0], 0.0, 11.0, 0.0, 10.5, 4.0] if m == 7 else r, "non_positive_price"),
        (lambda m, r: [r[0] + 30_000, *r[1:]] if m == 7 else r, "misaligned_timestamp"),
    ],
)
def test_bad_candles_from_the_venue_fail_validation_and_nothing_is_written(tmp_path, warehouse, tweak, rule):
    replay = write_replay(tmp_path / "bad.json", replay_rows(tweak=tweak))
    symbol = symbol_settings("ALT/BTC")
    asset = build_candle_asset(symbol, partitions_per_run=720)
    with Emulator(replay={"ALT/BTC": replay}) as emu:
        result = materialize(asset, warehouse=warehouse, sources=SourcesResource(emulator_url=emu.url),
                             partition_key="2024-03-01-10:00", raise_on_error=False)
    assert not result.success
    validation = check_results(result)["validation"]
    assert not validation.passed and rule in validation.metadata
    assert stored(warehouse, "ALT/BTC").is_empty()


def test_a_repeated_candle_is_stored_once_but_conflicting_candles_fail_validation(tmp_path, warehouse):
    rows = replay_rows()
    asset = build_candle_asset(symbol_settings("ALT/BTC"), partitions_per_run=720)
    repeated = write_replay(tmp_path / "repeated.json", sorted([*rows, rows[20]]))
    with Emulator(replay={"ALT/BTC": repeated}) as emu:
        materialize(asset, warehouse=warehouse, sources=SourcesResource(emulator_url=emu.url),
                    partition_key="2024-03-01-10:00")
    assert stored(warehouse, "ALT/BTC").height == 60
    conflicting = write_replay(tmp_path / "conflicting.json",
                               sorted([*rows, [rows[20][0], 99.0, 99.5, 98.0, 99.0, 1.0]]))
    with Emulator(replay={"ALT/BTC": conflicting}) as emu:
        result = materialize(asset, warehouse=warehouse, sources=SourcesResource(emulator_url=emu.url),
                             partition_key="2024-03-01-10:00", raise_on_error=False)
    assert "duplicate_timestamp" in check_results(result)["validation"].metadata
    assert set(stored(warehouse, "ALT/BTC")["close"]) == {10.5}


def test_replayed_holes_are_reported_exactly_by_the_gap_check_and_the_gaps_view(tmp_path, warehouse):
    holes = {0, 13, 14, 15, 42}
    replay = write_replay(tmp_path / "holes.json", replay_rows(skip=holes))
    asset = build_candle_asset(symbol_settings("ALT/BTC"), partitions_per_run=720)
    with Emulator(replay={"ALT/BTC": replay}) as emu:
        result = materialize(asset, warehouse=warehouse, sources=SourcesResource(emulator_url=emu.url),
                             partition_key="2024-03-01-10:00")
    checks = check_results(result)
    assert checks["validation"].passed
    assert not checks["gaps"].passed and checks["gaps"].severity == dg.AssetCheckSeverity.WARN
    assert checks["gaps"].metadata["missing_candles"].value == 5
    assert checks["gaps"].metadata["gap_ranges"].value == 3
    assert stored(warehouse, "ALT/BTC").height == 55
    naive = HOUR.replace(tzinfo=None)
    with warehouse.connect(read_only=True) as conn:
        gaps = queries.gaps(conn, "ALT/BTC").select("first_missing", "last_missing", "missing").rows()
    # minute 0 is before the first stored candle: the partition's gap check sees it, the stored-span view cannot
    assert gaps == [(naive + timedelta(minutes=13), naive + timedelta(minutes=15), 3),
                    (naive + timedelta(minutes=42), naive + timedelta(minutes=42), 1)]


def test_the_still_open_candle_is_never_stored(warehouse, emulator):
    from datafactory_assets.assets.ingest import ingest_window

    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    report = ingest_window(BTC, start=start, end=start + timedelta(hours=3),
                           sources=SourcesResource(emulator_url=emulator.url), warehouse=warehouse)
    rows = stored(warehouse, start=start, hours=3)
    assert rows.height == report.rows > 0
    assert (rows["ts"].max() + timedelta(minutes=1)).replace(tzinfo=UTC) <= datetime.now(UTC)


def test_a_failover_is_told_in_the_materialization_metadata(warehouse, emulator):
    from datafactory_assets.settings import SymbolSettings

    emulator.add_fault("binance:status:451")
    chained = SymbolSettings(symbol="BTC/USDT", timeframe="1m", start=BTC.start, sources=("binance", "okx"))
    result = materialize(build_candle_asset(chained, partitions_per_run=720), warehouse=warehouse,
                         sources=SourcesResource(emulator_url=emulator.url), partition_key="2024-03-01-10:00")
    (mat,) = result.asset_materializations_for_node("candles__btc_usdt")
    assert mat.metadata["source"].value == "okx"
    assert "binance (banned)" in mat.metadata["failed_sources"].value and "HTTP 451" in mat.metadata[
        "failed_sources"].value
    assert set(stored(warehouse)["source"]) == {"okx"}


def test_refused_downgrades_and_revisions_are_counted_once_in_the_run_metadata(warehouse, emulator):
    from datafactory_assets.settings import SymbolSettings

    chained = SymbolSettings(symbol="BTC/USDT", timeframe="1m", start=BTC.start, sources=("binance", "okx"))
    asset = build_candle_asset(chained, partitions_per_run=720)
    sources = SourcesResource(emulator_url=emulator.url)
    materialize(asset, warehouse=warehouse, sources=sources, partition_key="2024-03-01-10:00")
    held = stored(warehouse)
    emulator.add_fault("binance:status:451")
    emulator.set_price_offset("okx", 20)
    result = materialize(asset, warehouse=warehouse, sources=sources, partition_key="2024-03-01-10:00")
    (mat,) = result.asset_materializations_for_node("candles__btc_usdt")
    assert mat.metadata["source"].value == "okx"
    assert (mat.metadata["run_refused_downgrades"].value, mat.metadata["run_revised_candles"].value) == (60, 0)
    assert stored(warehouse).equals(held)  # okx ranks below binance: Binance's candles stay
    emulator.clear_faults()
    emulator.set_price_offset("binance", 20)
    result = materialize(asset, warehouse=warehouse, sources=sources, partition_key="2024-03-01-10:00")
    (mat,) = result.asset_materializations_for_node("candles__btc_usdt")
    assert (mat.metadata["run_refused_downgrades"].value, mat.metadata["run_revised_candles"].value,
            mat.metadata["run_history_rewrites"].value) == (0, 60, 60)


def test_the_measures_of_a_materialization_are_numbers_the_ui_plots(warehouse, sources):
    result = materialize(build_candle_asset(BTC, partitions_per_run=720), warehouse=warehouse, sources=sources,
                         partition_key="2024-03-01-10:00")
    (mat,) = result.asset_materializations_for_node("candles__btc_usdt")
    kinds = {key: type(mat.metadata[key]) for key in ("rows", "missing_minutes", "requests", "retries",
                                                      "fetch_latency_ms")}
    assert set(kinds.values()) <= {dg.IntMetadataValue, dg.FloatMetadataValue}, kinds
    assert isinstance(mat.metadata["fetch_latency_ms"], dg.FloatMetadataValue)
    assert isinstance(mat.metadata["source"], dg.TextMetadataValue)


def test_each_partition_of_a_range_run_carries_its_own_numbers_and_the_newest_the_runs(tmp_path, warehouse):
    first, second = HOUR, HOUR + timedelta(hours=1)
    rows = [r for r in replay_rows(first) + replay_rows(second)
            if r[0] not in {ms(first) + m * 60_000 for m in (3, 58, 59)} | {ms(second) + m * 60_000 for m in (0, 1)}]
    replay = write_replay(tmp_path / "spanning.json", rows)
    asset = build_candle_asset(symbol_settings("ALT/BTC"), partitions_per_run=720)
    with Emulator(replay={"ALT/BTC": replay}) as emu:
        result = materialize(asset, warehouse=warehouse, sources=SourcesResource(emulator_url=emu.url),
                             first="2024-03-01-10:00", last="2024-03-01-11:00")
    older, newest = sorted(result.asset_materializations_for_node("candles__alt_btc"), key=lambda m: m.partition)
    own = {"rows", "expected_rows", "missing_minutes"}
    assert {k: v.value for k, v in older.metadata.items()} == {"rows": 57, "expected_rows": 60, "missing_minutes": 3}
    assert (newest.metadata["rows"].value, newest.metadata["missing_minutes"].value) == (58, 2)
    assert (newest.metadata["run_rows"].value, newest.metadata["run_missing_minutes"].value) == (115, 5)
    assert own < set(newest.metadata) and newest.metadata["partitions"].value == 2


def test_a_partition_before_the_listing_succeeds_empty_and_says_so(warehouse, sources):
    from datafactory_assets.settings import SymbolSettings

    kaito = SymbolSettings(symbol="KAITO/USDT", timeframe="1m", start=datetime(2025, 1, 1, tzinfo=UTC),
                           sources=("binance",))
    result = materialize(build_candle_asset(kaito, partitions_per_run=720), warehouse=warehouse, sources=sources,
                         partition_key="2025-03-01-10:00")
    assert result.success
    checks = check_results(result)
    assert all(check.passed for check in checks.values()), checks
    (mat,) = result.asset_materializations_for_node("candles__kaito_usdt")
    assert mat.metadata["run_rows"].value == 0 and mat.metadata["run_missing_minutes"].value == 0
    assert "binance (before the listing): before the listing at 2025-03-10 12:30 UTC" in mat.metadata[
        "passed_over"].value
    assert stored(warehouse, "KAITO/USDT", datetime(2025, 3, 1, 10, tzinfo=UTC)).is_empty()


def test_the_asset_of_another_dataset_takes_its_key_group_description_and_checks_from_it():
    probe = replace(SPOT_CANDLES, name="probe_candles", description="{timeframe} probe rows of {symbol}.",
                    checks={VALIDATION: "probe rules", GAPS: "probe gaps"})
    asset = build_candle_asset(BTC, partitions_per_run=24, dataset=probe)
    assert asset.key == dg.AssetKey(["probe_candles", "btc_usdt"])
    assert asset.group_names_by_key[asset.key] == "probe_candles"
    assert asset.descriptions_by_key[asset.key] == "1m probe rows of BTC/USDT."
    assert {(s.name, s.blocking, s.description) for s in asset.check_specs} == {
        (VALIDATION, True, "probe rules"), (GAPS, False, "probe gaps")}


def test_a_dataset_declaring_fewer_checks_reports_only_those(warehouse, sources):
    gaps_only = replace(SPOT_CANDLES, checks={GAPS: "gaps only"})
    asset = build_candle_asset(BTC, partitions_per_run=24, dataset=gaps_only)
    result = materialize(asset, warehouse=warehouse, sources=sources, partition_key="2024-03-01-10:00")
    assert result.success and stored(warehouse).height == 60
    assert set(check_results(result)) == {GAPS}
