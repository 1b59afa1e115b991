"""The ingest path shared by assets, CLI and benchmark, under concurrency."""

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from datafactory_assets.assets.ingest import ValidationFailedError, ingest_window
from datafactory_assets.automation.healing_plan import HealingMemory, plan_tick
from datafactory_assets.checks import Violation, validate_candles
from datafactory_assets.datasets import OPEN_INTEREST, SPOT_CANDLES
from datafactory_assets.emulator.server import Emulator
from datafactory_assets.resilience.chain import ChainExhaustedError
from datafactory_assets.settings import HealingSettings, SymbolSettings
from datafactory_assets.sources.ccxt_source import CcxtCandleSource
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.sources.venues import VENUES
from datafactory_assets.warehouse import WarehouseResource, queries
from datafactory_assets.frames import candles_from_rows
from datafactory_assets.warehouse.writes import record_delisting, upsert_candles
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


def _an_hour_passes(warehouse) -> None:
    """What an hour does to the recorded confirmations (the test cannot wait for one)."""
    with warehouse.connect() as conn:
        conn.execute("UPDATE known_gaps SET confirmed_at = confirmed_at - INTERVAL 61 MINUTE, "
                     "first_confirmed_at = first_confirmed_at - INTERVAL 61 MINUTE")


def test_the_checks_get_what_is_stored_after_the_write_whether_its_window_held_rows_or_not(tmp_path, warehouse):
    """A window nothing was held in takes the rows it wrote as they are and reads only the rest (the day before, a
    row after its answer's last candle); a window held reads it all. Both are what a read afterwards finds."""
    alt = SymbolSettings(symbol="ALT/BTC", timeframe="1m", start=START - timedelta(days=1), sources=("binance",))
    read_from, end = START - timedelta(days=1), START + timedelta(hours=2)
    around = [[ms(START - timedelta(hours=3)), 2.0, 3.0, 1.0, 2.0, 9.0], [ms(START) + 119 * 60_000, 2.0, 3.0, 1.0, 2.0,
                                                                          9.0]]
    with warehouse.connect() as conn:
        upsert_candles(conn, candles_from_rows(around, symbol="ALT/BTC", source="okx"), symbol=alt)
    with Emulator(replay={"ALT/BTC": _replay_with_holes(tmp_path, {119})}) as emu:
        sources = SourcesResource(emulator_url=emu.url)
        for _ in ("new", "held"):
            report = ingest_window(alt, start=START, end=end, sources=sources, warehouse=warehouse,
                                   read_from=read_from)
            with warehouse.connect(read_only=True) as conn:
                assert_frame_equal(report.stored, queries.window_candles(conn, "ALT/BTC", read_from, end))
            assert report.stored.height == 121 and report.stored["source"].value_counts().sort("source").rows() == [
                ("binance", 119), ("okx", 2)]


def test_holes_every_source_lacks_in_two_fetches_an_hour_apart_are_confirmed_known_gaps(tmp_path, warehouse):
    """Old: two fetches a second apart confirmed the holes; now the second counts only an hour after the first."""
    alt = SymbolSettings(symbol="ALT/BTC", timeframe="1m", start=START, sources=("binance", "okx", "kraken"))
    hole = START.replace(tzinfo=None)
    with Emulator(replay={"ALT/BTC": _replay_with_holes(tmp_path, {5, 6, 70})}) as emu:
        sources = SourcesResource(emulator_url=emu.url)
        first = ingest_window(alt, start=START, end=START + timedelta(hours=2), sources=sources, warehouse=warehouse)
        assert first.rows == 117 and first.missing_candles == 3 and first.confirmed_empty == 0
        assert _known_gaps(warehouse) == [(hole + timedelta(minutes=m), "binance, okx, kraken", 1) for m in (5, 6, 70)]
        assert _gap_status(warehouse) == [(2, 0, 2), (1, 0, 1)]  # once could be a glitch: asked again
        again = ingest_window(alt, start=START, end=START + timedelta(hours=2), sources=sources, warehouse=warehouse)
        assert again.confirmed_empty == 0 and {c for _, _, c in _known_gaps(warehouse)} == {1}  # inside one glitch
        _an_hour_passes(warehouse)
        second = ingest_window(alt, start=START, end=START + timedelta(hours=2), sources=sources, warehouse=warehouse)
    assert second.confirmed_empty == 3
    assert _known_gaps(warehouse) == [(hole + timedelta(minutes=m), "binance, okx, kraken", 2) for m in (5, 6, 70)]
    assert _gap_status(warehouse) == [(2, 2, 0), (1, 1, 0)]
    with warehouse.connect(read_only=True) as conn:
        assert conn.sql("SELECT DISTINCT reason FROM known_gaps").fetchall() == [(VENUES["binance"].hole_reason,)]
        assert conn.sql("SELECT count(*) FROM known_gaps WHERE confirmed_at - first_confirmed_at >= INTERVAL 1 HOUR"
                        ).fetchall() == [(3,)]


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


def _ingest_alt(tmp_path, warehouse, *, holes: set[int], chain: tuple[str, ...], faults: tuple[str, ...] = ()):
    alt = SymbolSettings(symbol="ALT/BTC", timeframe="1m", start=START, sources=chain)
    with Emulator(replay={"ALT/BTC": _replay_with_holes(tmp_path, holes)}, faults=list(faults)) as emu:
        return ingest_window(alt, start=START, end=START + timedelta(hours=2), warehouse=warehouse,
                             sources=SourcesResource(emulator_url=emu.url, retry_backoff_s=0.01))


def test_a_venue_answering_no_candles_where_the_served_answer_has_them_keeps_every_hole_open(tmp_path, warehouse):
    """Old: okx's empty answer counted as "okx has none", and minute 5 was recorded as a hole."""
    report = _ingest_alt(tmp_path, warehouse, holes={5}, chain=("binance", "okx"), faults=("okx:empty",))
    assert report.rows == 119 and [(f.source, f.kind) for f in report.failures] == [("okx", "empty")]
    assert _known_gaps(warehouse) == []
    assert _gap_status(warehouse) == [(1, 0, 1)]


def test_only_minutes_between_candles_of_the_same_answer_are_holes(tmp_path, warehouse):
    """Minutes before an answer's first candle or after its last prove nothing (a cut answer, a listing)."""
    _ingest_alt(tmp_path, warehouse, holes={0, 1, 5, 119}, chain=("binance",))
    assert [ts for ts, _, _ in _known_gaps(warehouse)] == [START.replace(tzinfo=None) + timedelta(minutes=5)]


def test_the_last_minute_of_an_hour_is_a_hole_when_the_venue_has_the_next_hours_first(tmp_path, warehouse):
    """The venue is asked for one candle beyond each end of the window, so a one-hour run (healing's, the hourly
    schedule's) can vouch for its edge minutes; the extra candles are evidence only, never stored or logged as asked."""
    alt = SymbolSettings(symbol="ALT/BTC", timeframe="1m", start=START, sources=("binance",))
    with Emulator(replay={"ALT/BTC": _replay_with_holes(tmp_path, {59})}) as emu:
        report = ingest_window(alt, start=START, end=START + timedelta(hours=1), warehouse=warehouse,
                               sources=SourcesResource(emulator_url=emu.url))
    assert report.rows == 59
    assert [ts for ts, _, _ in _known_gaps(warehouse)] == [START.replace(tzinfo=None) + timedelta(minutes=59)]
    with warehouse.connect(read_only=True) as conn:
        assert conn.sql("SELECT count(*), max(ts) FROM candles").fetchall() == [
            (59, START.replace(tzinfo=None) + timedelta(minutes=58))]
        assert conn.sql("SELECT min(window_start), max(window_end) FROM ingest_log").fetchall() == [
            (START.replace(tzinfo=None), START.replace(tzinfo=None) + timedelta(hours=1))]


def test_a_verified_archive_file_lacking_a_minute_is_evidence_up_to_the_end_of_the_file(tmp_path, warehouse):
    """The month file is read whole after its checksum matched: a minute it lacks after its first candle is not
    Binance's, even at the end of the window; one before its first candle may precede the listing."""
    report = _ingest_alt(tmp_path, warehouse, holes={0, 5, 119}, chain=("binance_archive",))
    assert report.source == "binance_archive"
    assert [ts for ts, _, _ in _known_gaps(warehouse)] == [START.replace(tzinfo=None) + timedelta(minutes=m)
                                                           for m in (5, 119)]
    with warehouse.connect(read_only=True) as conn:
        assert conn.sql("SELECT DISTINCT reason FROM known_gaps").fetchall() == [(VENUES["binance"].hole_reason,)]


def test_an_outage_where_every_venue_answers_empty_pages_fails_and_confirms_nothing(emulator, warehouse, tmp_path):
    """Old: both runs succeeded with 0 rows and the whole hour became a confirmed hole, never asked for again."""
    btc = SymbolSettings(symbol="BTC/USDT", timeframe="1m", start=START, sources=("binance", "okx", "bybit"))
    sources = SourcesResource(emulator_url=emulator.url, state_path=str(tmp_path / "state.sqlite"))
    for venue in btc.sources:
        emulator.add_fault(f"{venue}:empty")
    for _ in range(2):
        with pytest.raises(ChainExhaustedError) as caught:
            ingest_window(btc, start=START, end=START + timedelta(hours=1), sources=sources, warehouse=warehouse)
        assert caught.value.empty_from == ["binance", "okx", "bybit"]
        assert "no candles in the window: down or broken, not evidence" in str(caught.value)
        _an_hour_passes(warehouse)
    with warehouse.connect(read_only=True) as conn:
        assert conn.sql("SELECT count(*) FROM known_gaps").fetchall() == [(0,)]
        asked = queries.incomplete_ranges(conn, [("BTC/USDT", START, 60)], until=START + timedelta(hours=1))
    assert asked == {"BTC/USDT": [(START.replace(tzinfo=None), (START + timedelta(hours=1)).replace(tzinfo=None))]}


def test_an_empty_window_of_a_pair_trading_before_it_is_an_outage_said_so(emulator, warehouse):
    emulator.add_fault("binance:empty@1")
    with pytest.raises(ChainExhaustedError, match="although binance has had candles since 2024-03-02 00:00 UTC: "
                                                  "an outage or a broken answer, not a hole"):
        ingest_window(symbol_settings(start=START), start=START + timedelta(days=1),
                      end=START + timedelta(days=1, hours=1), sources=SourcesResource(emulator_url=emulator.url),
                      warehouse=warehouse)


KAITO_LISTED = datetime(2025, 3, 10, 12, 30)  # the emulator's listing of KAITO/USDT


def test_windows_before_the_listing_succeed_empty_and_healing_starts_at_the_listing(emulator, warehouse):
    """Old: a window before the listing was recorded as 60 holes (every venue answered empty), and healing asked
    for every hour back to the configured start."""
    kaito = SymbolSettings(symbol="KAITO/USDT", timeframe="1m", start=datetime(2025, 1, 1, tzinfo=UTC),
                           sources=("binance", "okx"))
    sources = SourcesResource(emulator_url=emulator.url)
    march = datetime(2025, 3, 1, tzinfo=UTC)
    before = ingest_window(kaito, start=march, end=march + timedelta(hours=1), sources=sources, warehouse=warehouse)
    assert (before.rows, before.before_listing, before.missing_candles) == (0, KAITO_LISTED, 0)
    assert "before the listing at 2025-03-10 12:30 UTC" in str(before.passed_over[-1])
    until = datetime(2025, 3, 10, 14)
    with warehouse.connect(read_only=True) as conn:
        assert conn.sql("SELECT listed_ts FROM symbols").fetchall() == [(KAITO_LISTED,)]
        assert conn.sql("SELECT count(*) FROM known_gaps").fetchall() == [(0,)]
        asked = queries.incomplete_ranges(conn, [("KAITO/USDT", kaito.start, 60)], until=until)
    assert asked == {"KAITO/USDT": [(datetime(2025, 3, 10, 12), until)]}
    listing_hours = ingest_window(kaito, start=datetime(2025, 3, 10, 12, tzinfo=UTC), end=until.replace(tzinfo=UTC),
                                  sources=sources, warehouse=warehouse)
    assert listing_hours.rows == 90
    with warehouse.connect(read_only=True) as conn:
        assert queries.incomplete_ranges(conn, [("KAITO/USDT", kaito.start, 60)], until=until) == {"KAITO/USDT": []}


def test_an_empty_window_is_not_taken_as_before_the_listing_while_a_venue_that_lists_the_pair_is_down(tmp_path,
                                                                                                       warehouse):
    """Binance dates its own first kline; a venue that failed may have listed the pair earlier, so nothing is
    concluded (and no listing stored) until every venue of the chain answered."""
    kaito = SymbolSettings(symbol="KAITO/USDT", timeframe="1m", start=datetime(2025, 1, 1, tzinfo=UTC),
                           sources=("binance", "okx"))
    march = datetime(2025, 3, 1, tzinfo=UTC)
    with Emulator(symbols=["BTC/USDT", "KAITO/USDT"], faults=["okx:status:503"]) as emu:
        with pytest.raises(ChainExhaustedError, match=r"okx \(transient\)"):
            ingest_window(kaito, start=march, end=march + timedelta(hours=1), warehouse=warehouse,
                          sources=SourcesResource(emulator_url=emu.url, state_path=str(tmp_path / "state.sqlite"),
                                                  retry_attempts=1))
    with warehouse.connect(read_only=True) as conn:
        assert conn.sql("SELECT count(*) FROM symbols WHERE listed_ts IS NOT NULL").fetchall() == [(0,)]


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


def test_the_dataset_validates_the_window_and_nothing_it_refuses_is_written(emulator, warehouse):
    def stricter(frame, **window):
        return [*validate_candles(frame, **window), Violation("closes_above_zero", frame.height, frame["ts"].min())]

    btc, sources = symbol_settings(start=START), SourcesResource(emulator_url=emulator.url)
    with pytest.raises(ValidationFailedError, match="candles failed validation, nothing written") as caught:
        ingest_window(btc, start=START, end=START + timedelta(hours=1), sources=sources, warehouse=warehouse,
                      dataset=replace(SPOT_CANDLES, validate=stricter))
    assert [v.rule for v in caught.value.violations] == ["closes_above_zero"]
    with warehouse.connect(read_only=True) as conn:
        assert queries.window_candles(conn, "BTC/USDT", START, START + timedelta(hours=1)).height == 0


def test_open_interest_missing_at_binance_is_recorded_without_the_kline_explanation(emulator, sources, warehouse):
    """Binance's hole reason speaks of klines (one for every minute, trades or not); open interest that Binance
    lacks is recorded as a hole of the dataset, with no such explanation, and counted in 5-minute slots."""
    start = _hours_ago(72)
    emulator.add_fault("binanceusdm:holes:0.2")
    symbol = SymbolSettings(symbol="BTC/USDT:USDT", timeframe="1m", start=start, sources=("binance",),
                            datasets=("open_interest",))
    report = ingest_window(symbol, start=start, end=start + timedelta(hours=2), sources=sources,
                           warehouse=warehouse, dataset=OPEN_INTEREST)
    assert 0 < report.missing_candles == 24 - report.rows
    with warehouse.connect(read_only=True) as conn:
        recorded = conn.sql("SELECT dataset, reason, count(*) FROM known_gaps GROUP BY ALL").fetchall()
    assert len(recorded) == 1 and recorded[0][:2] == ("open_interest", None)


MATIC_DELISTED = datetime(2024, 9, 10, 3)  # Binance's delisting of every MATIC spot pair (emulator/candles.py)


@pytest.fixture(scope="module")
def matic_emulator():
    """An emulator serving MATIC/USDT, which Binance lists as BREAK (delisted) and whose klines end at 03:00."""
    with Emulator(symbols=["BTC/USDT", "MATIC/USDT", "POL/USDT"]) as emu:
        yield emu


def test_a_delisted_pair_is_stored_to_its_delisting_and_coverage_and_healing_stop_there(matic_emulator, warehouse):
    """Old: the hours after the delisting were an outage (every venue answered empty, Binance still dated the first
    candle in 2017), coverage counted to now and healing asked for every hour since."""
    matic = SymbolSettings(symbol="MATIC/USDT", timeframe="1m", start=datetime(2024, 9, 9, tzinfo=UTC),
                           sources=("binance", "okx"))
    sources = SourcesResource(emulator_url=matic_emulator.url)
    across = ingest_window(matic, start=matic.start, end=datetime(2024, 9, 10, 6, tzinfo=UTC), sources=sources,
                           warehouse=warehouse)
    assert (across.rows, across.delisted) == (27 * 60, MATIC_DELISTED)  # the window's 27 hours before it
    after = ingest_window(matic, start=datetime(2024, 9, 11, tzinfo=UTC), end=datetime(2024, 9, 11, 1, tzinfo=UTC),
                          sources=sources, warehouse=warehouse)
    assert (after.rows, after.missing_candles, after.delisted) == (0, 0, MATIC_DELISTED)
    assert "after the delisting at 2024-09-10 03:00 UTC" in str(after.passed_over[-1])
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with warehouse.connect(read_only=True) as conn:
        assert conn.sql("SELECT delisted_ts FROM symbols").fetchall() == [(MATIC_DELISTED,)]
        row = queries.coverage(conn, [matic], until=now).row(0, named=True)
        asked = queries.incomplete_ranges(conn, [("MATIC/USDT", matic.start, 60)], until=now)
    assert (row["until_ts"], row["expected"], row["rows"], row["completeness_pct"]) == (
        MATIC_DELISTED, 27 * 60, 27 * 60, 100.0)
    assert row["note"] == "delisted 2024-09-10"
    assert asked == {"MATIC/USDT": []}
    plan = plan_tick(asked, in_flight=[], memory=HealingMemory(), now=now.timestamp(), settings=HealingSettings(),
                     partitions_per_run=24)
    assert plan.runs == []


def test_the_delisting_hour_after_the_delisting_is_not_asked_for(matic_emulator, warehouse):
    """A delisting inside an hour: its minutes after the delisting count as held, as the listing hour's before."""
    matic = SymbolSettings(symbol="MATIC/USDT", timeframe="1m", start=datetime(2024, 9, 10, tzinfo=UTC),
                           sources=("binance",))
    sources = SourcesResource(emulator_url=matic_emulator.url)
    ingest_window(matic, start=matic.start, end=datetime(2024, 9, 10, 4, tzinfo=UTC), sources=sources,
                  warehouse=warehouse)
    with warehouse.connect() as conn:  # as if the venue had delisted it at 02:30
        conn.execute("UPDATE symbols SET delisted_ts = '2024-09-10 02:30'")
        conn.execute("DELETE FROM candles WHERE ts >= '2024-09-10 02:30'")
        assert queries.incomplete_ranges(conn, [("MATIC/USDT", matic.start, 60)], until=datetime(2024, 9, 12)) == {
            "MATIC/USDT": []}
        conn.execute("DELETE FROM candles WHERE ts = '2024-09-10 02:29'")
        assert queries.incomplete_ranges(conn, [("MATIC/USDT", matic.start, 60)], until=datetime(2024, 9, 12)) == {
            "MATIC/USDT": [(datetime(2024, 9, 10, 2), datetime(2024, 9, 10, 3))]}


def test_a_pair_the_venue_lists_again_after_its_delisting_is_live_again(matic_emulator, warehouse):
    """Before, `symbols.delisted_ts` stayed once recorded: a pair listed again kept counting to its old delisting
    and healing never asked for an hour of its new life."""
    btc = SymbolSettings(symbol="BTC/USDT", timeframe="1m", start=datetime(2024, 9, 9, tzinfo=UTC),
                         sources=("binance",))
    sources = SourcesResource(emulator_url=matic_emulator.url)
    with warehouse.connect() as conn:  # as a run found it when Binance listed it as BREAK
        record_delisting(conn, symbol=btc, delisted_ts=MATIC_DELISTED)
    before = ingest_window(btc, start=datetime(2024, 9, 10, 1, tzinfo=UTC), end=datetime(2024, 9, 10, 3, tzinfo=UTC),
                           sources=sources, warehouse=warehouse)  # history up to it says nothing of a relisting
    with warehouse.connect(read_only=True) as conn:
        assert (before.rows, queries.delistings(conn, ["BTC/USDT"])) == (120, {"BTC/USDT": MATIC_DELISTED})
    again = ingest_window(btc, start=datetime(2024, 9, 11, tzinfo=UTC), end=datetime(2024, 9, 11, 1, tzinfo=UTC),
                          sources=sources, warehouse=warehouse)  # trading again: Binance serves the hour
    until = datetime(2024, 9, 11, 1, tzinfo=UTC)
    with warehouse.connect(read_only=True) as conn:
        assert (again.rows, again.delisted, queries.delistings(conn, ["BTC/USDT"])) == (60, None, {})
        row = queries.coverage(conn, [btc], until=until).row(0, named=True)
        asked = queries.incomplete_ranges(conn, [("BTC/USDT", btc.start, 60)], until=until)
    assert (row["until_ts"], row["rows"], row["note"]) == (until.replace(tzinfo=None), 180, None)
    assert asked["BTC/USDT"][-1] == (datetime(2024, 9, 10, 3), datetime(2024, 9, 11))  # its hours since are asked


def test_a_renamed_instrument_is_one_across_the_rename_and_its_rows_keep_their_venue_symbols(matic_emulator,
                                                                                           warehouse):
    """POL/USDT, MATIC/USDT until 2024-09-10 03:00 UTC: each part of a window from the venue symbol then in force,
    the three days Binance listed neither recorded as confirmed holes with the reason (both ends dated by the
    venue), so coverage counts one instrument with nothing missing and healing asks for nothing."""
    pol = SymbolSettings(symbol="POL/USDT", timeframe="1m", start=datetime(2024, 9, 10, tzinfo=UTC),
                         sources=("binance", "okx"), renamed_from=(("MATIC/USDT", MATIC_DELISTED.replace(tzinfo=UTC)),))
    sources = SourcesResource(emulator_url=matic_emulator.url)
    hours = [datetime(2024, 9, 10, tzinfo=UTC), datetime(2024, 9, 10, 6, tzinfo=UTC),
             datetime(2024, 9, 13, 8, tzinfo=UTC), datetime(2024, 9, 13, 12, tzinfo=UTC)]
    reports = [ingest_window(pol, start=a, end=b, sources=sources, warehouse=warehouse)
               for a, b in zip(hours, hours[1:])]
    assert [(r.rows, r.confirmed_empty) for r in reports] == [(180, 180), (0, (3 * 24 + 2) * 60), (120, 120)]
    until = hours[-1].replace(tzinfo=None)
    with warehouse.connect(read_only=True) as conn:
        row = queries.coverage(conn, [pol], until=until).row(0, named=True)
        listed = [s for (s,) in conn.sql("SELECT DISTINCT symbol FROM ingest_log UNION SELECT symbol FROM symbols "
                                         "ORDER BY 1").fetchall()]
        gaps = queries.gaps(conn, "POL/USDT")
        rows = queries.window_venue_symbols(conn, "POL/USDT", hours[0], hours[-1])
        asked = queries.incomplete_ranges(conn, [("POL/USDT", pol.start, 60)], until=until)
    assert listed == ["POL/USDT"]
    assert (row["expected"], row["rows"], row["confirmed_empty"], row["missing"], row["completeness_pct"]) == (
        (3 * 24 + 12) * 60, 300, (3 * 24 + 7) * 60, 0, 100.0)
    assert gaps.select("first_missing", "last_missing", "unconfirmed").rows() == [
        (datetime(2024, 9, 10, 3), datetime(2024, 9, 13, 9, 59), 0)]
    assert gaps["reason"][0].startswith("renamed: MATIC/USDT traded until 2024-09-10 03:00 UTC and POL/USDT from "
                                        "2024-09-13 10:00 UTC (binance)")
    assert asked == {"POL/USDT": []}
    by_venue = rows.group_by("venue_symbol").agg(pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last"))
    assert sorted(by_venue.rows()) == [("MATIC/USDT", datetime(2024, 9, 10), datetime(2024, 9, 10, 2, 59)),
                                       ("POL/USDT", datetime(2024, 9, 13, 10), datetime(2024, 9, 13, 11, 59))]
    served = CcxtCandleSource("binance", emulator_url=matic_emulator.url).fetch_range(
        "MATIC/USDT", start=hours[0], end=hours[1], timeframe="1m").frame
    assert rows.filter(pl.col("venue_symbol") == "MATIC/USDT")["close"].to_list() == served["close"].to_list()
