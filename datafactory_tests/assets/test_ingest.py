"""The ingest path shared by assets, CLI and benchmark, under concurrency."""

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.emulator.server import Emulator
from datafactory_assets.settings import SymbolSettings
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse import WarehouseResource, queries
from datafactory_tests.helpers import ms, symbol_settings

START = datetime(2024, 3, 2, tzinfo=UTC)
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "ADA/USDT")


def ingest_day(symbol: str, emulator_url: str, warehouse_path: str) -> int:
    warehouse = WarehouseResource(path=warehouse_path, lock_timeout_s=120)
    sources = SourcesResource(emulator_url=emulator_url)
    total = 0
    for hour in range(0, 24, 6):  # several separate writes per process, to collide often
        start = START + timedelta(hours=hour)
        total += ingest_window(symbol_settings(symbol), start=start, end=start + timedelta(hours=6),
                               sources=sources, warehouse=warehouse).rows
    return total


def test_four_processes_writing_at_once_all_land_every_candle_once(emulator, warehouse):
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=4, mp_context=context) as pool:
        totals = list(pool.map(ingest_day, SYMBOLS, [emulator.url] * 4, [warehouse.path] * 4))
    assert totals == [1440] * 4
    with warehouse.connect(read_only=True) as conn:
        counts = conn.sql("SELECT symbol, count(*), count(DISTINCT ts) FROM candles GROUP BY symbol "
                          "ORDER BY symbol").fetchall()
    assert counts == [(s, 1440, 1440) for s in sorted(SYMBOLS)]


def _replay_with_holes(tmp_path, holes: set[int]) -> Path:
    recorded = [[ms(START) + m * 60_000, 1.0, 1.5, 0.5, 1.2, 7.0] for m in range(120) if m not in holes]
    path = tmp_path / "recorded.json"
    path.write_text(json.dumps(recorded))
    return path


def _known_gaps(warehouse) -> list[tuple]:
    with warehouse.connect(read_only=True) as conn:
        return conn.sql("SELECT ts, sources, confirmations FROM known_gaps ORDER BY ts").fetchall()


def _gap_status(warehouse) -> list[tuple]:
    with warehouse.connect(read_only=True) as conn:
        return queries.gaps(conn, "ALT/BTC")[["missing", "confirmed_empty", "unconfirmed"]].rows()


def test_holes_every_source_lacks_in_two_fetches_are_confirmed_known_gaps(tmp_path, warehouse):
    alt = SymbolSettings(symbol="ALT/BTC", timeframe="1m", start=START, sources=("binance", "okx", "kraken"))
    hole = START.replace(tzinfo=None)
    with Emulator(replay={"ALT/BTC": _replay_with_holes(tmp_path, {5, 6, 70})}) as emu:
        sources = SourcesResource(emulator_url=emu.url)
        first = ingest_window(alt, start=START, end=START + timedelta(hours=2), sources=sources, warehouse=warehouse)
        assert first.rows == 117 and first.missing_candles == 3 and first.confirmed_empty == 0
        assert _known_gaps(warehouse) == [(hole + timedelta(minutes=m), "binance, okx, kraken", 1) for m in (5, 6, 70)]
        assert _gap_status(warehouse) == [(2, 0, 2), (1, 0, 1)]  # once could be a glitch: asked again
        second = ingest_window(alt, start=START, end=START + timedelta(hours=2), sources=sources, warehouse=warehouse)
    assert second.confirmed_empty == 3
    assert _known_gaps(warehouse) == [(hole + timedelta(minutes=m), "binance, okx, kraken", 2) for m in (5, 6, 70)]
    assert _gap_status(warehouse) == [(2, 2, 0), (1, 1, 0)]


def test_holes_are_not_confirmed_while_a_source_could_not_answer(tmp_path, warehouse):
    alt = SymbolSettings(symbol="ALT/BTC", timeframe="1m", start=START, sources=("binance", "okx"))
    with Emulator(replay={"ALT/BTC": _replay_with_holes(tmp_path, {5})}, faults=["okx:status:503"]) as emu:
        ingest_window(alt, start=START, end=START + timedelta(hours=2),
                      sources=SourcesResource(emulator_url=emu.url, retry_backoff_s=0.01), warehouse=warehouse)
    assert _known_gaps(warehouse) == []
    assert _gap_status(warehouse) == [(1, 0, 1)]


def test_a_candle_arriving_for_a_known_gap_replaces_it(tmp_path, warehouse):
    alt = SymbolSettings(symbol="ALT/BTC", timeframe="1m", start=START, sources=("binance",))
    with Emulator(replay={"ALT/BTC": _replay_with_holes(tmp_path, {5})}) as emu:
        ingest_window(alt, start=START, end=START + timedelta(hours=1),
                      sources=SourcesResource(emulator_url=emu.url), warehouse=warehouse)
    assert len(_known_gaps(warehouse)) == 1
    with Emulator(replay={"ALT/BTC": _replay_with_holes(tmp_path, set())}) as emu:
        ingest_window(alt, start=START, end=START + timedelta(hours=1),
                      sources=SourcesResource(emulator_url=emu.url), warehouse=warehouse)
    assert _known_gaps(warehouse) == []
    with warehouse.connect(read_only=True) as conn:
        assert conn.sql("SELECT count(*) FROM candles WHERE symbol = 'ALT/BTC'").fetchall() == [(60,)]


def _hours_ago(hours: int) -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours)


def _stored(warehouse, symbol: str = "BTC/USDT"):
    with warehouse.connect(read_only=True) as conn:
        return conn.sql("SELECT * FROM candles WHERE symbol = ? ORDER BY ts", params=[symbol]).pl()


def _revisions(warehouse):
    with warehouse.connect(read_only=True) as conn:
        return conn.sql("SELECT * FROM candle_revisions ORDER BY ts").pl()


def test_yahoo_never_replaces_binance_candles_and_fills_only_the_minutes_not_held(emulator, sources, warehouse):
    """The issue's case: Binance holds a window (with holes), then serves conflicting duplicates for it, so the chain
    fails over to Yahoo (USD for USDT): Yahoo may fill the holes, never replace a Binance candle."""
    start = _hours_ago(50)
    emulator.add_fault("binance:holes:0.1")
    held = ingest_window(SymbolSettings(symbol="BTC/USDT", timeframe="1m", start=start, sources=("binance",)),
                         start=start, end=start + timedelta(hours=2), sources=sources, warehouse=warehouse)
    before = _stored(warehouse)
    assert 90 < before.height < 120 and held.missing_candles == 120 - before.height
    emulator.clear_faults()
    emulator.add_fault("binance:duplicates")
    chain = SymbolSettings(symbol="BTC/USDT", timeframe="1m", start=start, sources=("binance", "yahoo"))
    report = ingest_window(chain, start=start, end=start + timedelta(hours=2), sources=sources, warehouse=warehouse)
    assert report.source == "yahoo" and report.quote_notes == ["yahoo serves BTC-USD (USD) for BTC/USDT (USDT)"]
    after = _stored(warehouse)
    assert after.filter(pl.col("source") == "binance").equals(before)  # untouched: values, source, ingested_at
    filled = after.filter(pl.col("source") == "yahoo")
    assert filled.height == 120 - before.height and not set(filled["ts"]) & set(before["ts"])
    assert (report.refused, report.revised) == (before.height, 0)
    assert _revisions(warehouse).is_empty()


def test_a_venue_correcting_stored_candles_keeps_the_old_values_in_candle_revisions(emulator, sources, warehouse):
    start = _hours_ago(50)
    btc = SymbolSettings(symbol="BTC/USDT", timeframe="1m", start=start, sources=("binance",))
    ingest_window(btc, start=start, end=start + timedelta(hours=1), sources=sources, warehouse=warehouse)
    old = _stored(warehouse)
    again = ingest_window(btc, start=start, end=start + timedelta(hours=1), sources=sources, warehouse=warehouse)
    assert (again.revised, again.refused) == (0, 0) and _stored(warehouse).equals(old)  # identical: nothing written
    emulator.set_price_offset("binance", 20)
    corrected = ingest_window(btc, start=start, end=start + timedelta(hours=1), sources=sources, warehouse=warehouse,
                              run_id="run-1")
    assert (corrected.revised, corrected.refused, corrected.history_rewrites) == (60, 0, 60)
    new = _stored(warehouse)
    revisions = _revisions(warehouse)
    assert revisions["ts"].to_list() == old["ts"].to_list() and set(revisions["run_id"]) == {"run-1"}
    for column in ("open", "high", "low", "close", "volume"):
        assert revisions[f"old_{column}"].to_list() == old[column].to_list()
        assert revisions[f"new_{column}"].to_list() == new[column].to_list()
    assert (revisions["new_close"] != revisions["old_close"]).any()
    assert set(revisions["old_source"]) == set(revisions["new_source"]) == {"binance"}
    assert revisions["old_ingested_at"].to_list() == old["ingested_at"].to_list()


def test_a_correction_of_fresh_candles_is_a_revision_but_no_history_rewrite(emulator, sources, warehouse):
    start = _hours_ago(2)
    btc = SymbolSettings(symbol="BTC/USDT", timeframe="1m", start=start, sources=("binance",))
    ingest_window(btc, start=start, end=start + timedelta(hours=1), sources=sources, warehouse=warehouse)
    emulator.set_price_offset("binance", 20)
    corrected = ingest_window(btc, start=start, end=start + timedelta(hours=1), sources=sources, warehouse=warehouse)
    assert (corrected.revised, corrected.history_rewrites) == (60, 0)
