from dataclasses import replace
from datetime import datetime, timedelta, timezone

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from datafactory_assets.datasets import SPOT_CANDLES
from datafactory_assets.frames import candles_from_rows
from datafactory_assets.sources.base import RequestRecord
from datafactory_assets.warehouse import queries
from datafactory_assets.warehouse.archive import ArchivedMonthError
from datafactory_assets.warehouse.tables import ensure_tables
from datafactory_assets.warehouse.writes import ConfirmedHoles, upsert_candles, upsert_rows
from datafactory_tests.helpers import symbol_settings

START = datetime(2024, 3, 1)
BTC = symbol_settings("BTC/USDT")


def rows(first_minute: int, count: int, price: float = 100.0, skip: frozenset = frozenset()) -> list[list]:
    base = int((START - datetime(1970, 1, 1)).total_seconds() * 1000)
    return [[base + m * 60_000, price, price + 1, price - 1, price, 2.0]
            for m in range(first_minute, first_minute + count) if m not in skip]


def store(conn, raw, start=START, hours=1, symbol=BTC):
    frame = candles_from_rows(raw, symbol=symbol.symbol, source="binance")
    return upsert_candles(conn, frame, symbol=symbol)


def test_storing_a_window_again_never_duplicates_keeps_neighbours_and_never_deletes(warehouse):
    with warehouse.connect() as conn:
        store(conn, rows(0, 120), hours=2)
        store(conn, rows(60, 60, price=200.0), start=START + timedelta(hours=1))
        stored = queries.window_candles(conn, "BTC/USDT", START, START + timedelta(hours=2))
    assert stored.height == 120
    assert stored["close"].to_list() == [100.0] * 60 + [200.0] * 60
    with warehouse.connect() as conn:  # a later answer with holes replaces what it has and erases nothing
        store(conn, rows(60, 60, price=300.0, skip=frozenset({70, 71})), start=START + timedelta(hours=1))
        stored = queries.window_candles(conn, "BTC/USDT", START + timedelta(hours=1), START + timedelta(hours=2))
        duplicates = conn.sql("SELECT count(*) - count(DISTINCT (symbol, ts)) FROM candles").fetchall()[0][0]
    assert stored.height == 60 and duplicates == 0
    assert stored["close"].to_list()[9:12] == [300.0, 200.0, 200.0]


def test_a_write_keeps_the_symbols_settings_current_and_forgets_only_the_holes_its_rows_fill(warehouse):
    holes = ConfirmedHoles(ts=pl.Series([START + timedelta(minutes=m) for m in (5, 90)]), sources="binance",
                           reason=pl.Series([None, None], dtype=pl.String))
    with warehouse.connect() as conn:
        frame = candles_from_rows(rows(0, 120, skip=frozenset({5, 90})), symbol="BTC/USDT", source="binance")
        upsert_candles(conn, frame, symbol=BTC, holes=holes)
        conn.execute("UPDATE symbols SET listed_ts = ? WHERE symbol = 'BTC/USDT'", [START])
        store(conn, rows(0, 60))  # the same settings, minute 5 arriving
        later = replace(BTC, start=BTC.start + timedelta(days=1))
        store(conn, rows(200, 10), symbol=later)  # a later configured start
        symbol = conn.sql("SELECT timeframe_ms, start_ts, listed_ts FROM symbols").fetchall()
        known = conn.sql("SELECT ts FROM known_gaps").fetchall()
    assert symbol == [(60_000, later.start.replace(tzinfo=None), START)]
    assert known == [(START + timedelta(minutes=90),)]


def test_a_failed_write_rolls_back_and_keeps_what_was_stored(warehouse):
    with warehouse.connect() as conn:
        store(conn, rows(0, 60))
        broken = rows(0, 60, price=300.0)
        broken[30][1] = None  # fails the NOT NULL constraint after the delete has run inside the transaction
        with pytest.raises(duckdb.ConstraintException):
            store(conn, broken)
        stored = queries.window_candles(conn, "BTC/USDT", START, START + timedelta(hours=1))
    assert stored.height == 60
    assert set(stored["close"]) == {100.0}


def test_views_report_coverage_gaps_and_rollups(warehouse):
    eth = symbol_settings("ETH/USDT")
    with warehouse.connect() as conn:
        store(conn, rows(0, 120, skip=frozenset({10, 11, 12, 90})), hours=2)
        store(conn, rows(0, 60), symbol=eth)
        coverage = queries.coverage(conn, until=START + timedelta(hours=2))
        gaps = queries.gaps(conn, "BTC/USDT")
        hourly = conn.sql("SELECT * FROM candles_1h WHERE symbol = 'BTC/USDT' ORDER BY ts").pl()
        daily = conn.sql("SELECT candles FROM candles_1d WHERE symbol = 'ETH/USDT'").pl()
    btc = coverage.filter(pl.col("symbol") == "BTC/USDT").row(0, named=True)
    # written without a logged request, so the four minutes lacking were never asked for: not yet fetched
    assert (btc["rows"], btc["expected"], btc["missing"], btc["not_fetched"]) == (116, 120, 0, 4)
    assert btc["completeness_pct"] == pytest.approx(100 * 116 / 120, abs=1e-4)
    assert gaps.select("first_missing", "last_missing", "missing").rows() == [
        (START + timedelta(minutes=10), START + timedelta(minutes=12), 3),
        (START + timedelta(minutes=90), START + timedelta(minutes=90), 1),
    ]
    assert hourly["candles"].to_list() == [57, 59]
    assert daily["candles"].to_list() == [60]


def test_fresh_database_name_follows_the_seed():
    path = queries.fresh_database_path(__import__("pathlib").Path("/d"), datetime(2026, 11, 24, 5, 6, 7))
    assert str(path) == "/d/crypto_data_20261124_050607.duckdb"


# A second OHLCV dataset, declared here only: its own table and revisions table, nothing else told about it.
TINY = replace(SPOT_CANDLES, name="tiny_candles", table="tiny_candles", revisions=None)


def at(minute: int) -> datetime:
    return START + timedelta(minutes=minute)


def holes(*minutes: int) -> ConfirmedHoles:
    return ConfirmedHoles(ts=pl.Series([at(m) for m in minutes]), sources="binance",
                          reason=pl.Series([None] * len(minutes), dtype=pl.String))


def request(rows_served: int) -> RequestRecord:
    return RequestRecord(source="binance", symbol="BTC/USDT", window_start=START, window_end=START + timedelta(hours=2),
                         rows=rows_served, latency_ms=1.0, outcome="ok", error_class=None, requested_at=START)


def test_a_second_dataset_lands_in_its_own_tables_with_its_bookkeeping_tagged_and_candles_untouched(warehouse):
    with warehouse.connect() as conn:
        upsert_candles(conn, candles_from_rows(rows(0, 60), symbol="BTC/USDT", source="binance"), symbol=BTC,
                       requests=[request(60)], holes=holes(70))
        spot = conn.sql("SELECT * FROM candles ORDER BY ts").fetchall()
        ensure_tables(conn, TINY)  # what opening the file does for a registered dataset
        tiny = candles_from_rows(rows(0, 60, price=300.0, skip=frozenset({5})), symbol="BTC/USDT", source="binance")
        upsert_rows(conn, tiny, dataset=TINY, symbol=BTC, requests=[request(59)], run_id="r-1", holes=holes(5, 70))
        # minute 5 is a hole of tiny_candles although candles holds it; spot's hole at 70 is not counted twice
        assert conn.sql("SELECT dataset, ts, confirmations FROM known_gaps ORDER BY ALL").fetchall() == [
            ("candles", at(70), 1), ("tiny_candles", at(5), 1), ("tiny_candles", at(70), 1)]
        again = candles_from_rows(rows(0, 71, price=400.0), symbol="BTC/USDT", source="binance")
        written = upsert_rows(conn, again, dataset=TINY, symbol=BTC, run_id="r-2")
        assert (written.rows, written.revised, written.refused) == (71, 59, 0)
        assert conn.sql("SELECT * FROM candles ORDER BY ts").fetchall() == spot
        assert conn.sql("SELECT count(*) FROM candle_revisions").fetchall() == [(0,)]
        assert conn.sql("SELECT count(*), min(close), max(close), count(DISTINCT ts) FROM tiny_candles"
                        ).fetchall() == [(71, 400.0, 400.0, 71)]
        assert conn.sql("SELECT count(*), min(old_close), max(new_close), min(run_id) FROM tiny_candles_revisions"
                        ).fetchall() == [(59, 300.0, 400.0, "r-2")]
        # rows arriving for tiny_candles' holes replace them; candles' hole at minute 70 stays
        assert conn.sql("SELECT dataset, ts FROM known_gaps").fetchall() == [("candles", at(70))]
        assert conn.sql("SELECT dataset, rows FROM ingest_log ORDER BY rows").fetchall() == [
            ("tiny_candles", 59), ("candles", 60)]


def test_the_request_log_keeps_each_request_as_made_in_utc_whatever_the_sessions_time_zone(warehouse):
    berlin = timezone(timedelta(hours=2))
    failed = replace(request(0), source="okx", outcome="error", error_class="transient", latency_ms=2.5,
                     requested_at=datetime(2024, 3, 1, 14, 0, tzinfo=berlin))
    with warehouse.connect() as conn:
        conn.execute("SET TimeZone = 'Asia/Tokyo'")
        upsert_candles(conn, candles_from_rows(rows(0, 60), symbol="BTC/USDT", source="binance"), symbol=BTC,
                       requests=[request(60), failed], run_id="r-1")
        upsert_candles(conn, candles_from_rows([], symbol="BTC/USDT", source="binance"), symbol=BTC,
                       requests=[request(0)])
        logged = conn.sql("SELECT requested_at, source, symbol, window_start, window_end, rows, latency_ms, outcome, "
                          "error_class, run_id, dataset FROM ingest_log ORDER BY source, rows DESC").fetchall()
    window = (START, START + timedelta(hours=2))
    assert logged == [(START, "binance", "BTC/USDT", *window, 60, 1.0, "ok", None, "r-1", "candles"),
                      (START, "binance", "BTC/USDT", *window, 0, 1.0, "ok", None, None, "candles"),
                      (datetime(2024, 3, 1, 12, 0), "okx", "BTC/USDT", *window, 0, 2.5, "error", "transient", "r-1",
                       "candles")]


def test_rows_or_holes_reaching_an_archived_month_of_their_dataset_are_refused_before_anything_is_written(warehouse):
    def archived(conn, month, dataset="candles"):
        conn.execute("INSERT INTO archived_months (dataset, symbol, month, rows, checksum, archived_at) "
                     "VALUES (?, 'BTC/USDT', ?, 0, 0, now())", [dataset, month])

    march = candles_from_rows(rows(0, 60), symbol="BTC/USDT", source="binance")
    with warehouse.connect() as conn:
        archived(conn, "2024-04")
        with pytest.raises(ArchivedMonthError, match="BTC/USDT 2024-04 is archived"):  # a hole alone reaches it
            upsert_candles(conn, march, symbol=BTC, requests=[request(60)], holes=holes(31 * 24 * 60))
        assert conn.sql("SELECT (SELECT count(*) FROM candles) + (SELECT count(*) FROM symbols) + "
                        "(SELECT count(*) FROM ingest_log) + (SELECT count(*) FROM known_gaps)").fetchall() == [(0,)]
        archived(conn, "2024-03", dataset=TINY.name)  # another dataset's archived month
        ensure_tables(conn, TINY)
        upsert_candles(conn, march, symbol=BTC, holes=holes(70))
        later = candles_from_rows(rows(31 * 24 * 60, 60), symbol="BTC/USDT", source="binance")
        with pytest.raises(ArchivedMonthError, match="BTC/USDT 2024-04 is archived"):
            upsert_candles(conn, later, symbol=BTC)
        with pytest.raises(ArchivedMonthError, match="BTC/USDT 2024-03 is archived"):
            upsert_rows(conn, march, dataset=TINY, symbol=BTC)
        assert conn.sql("SELECT min(ts), max(ts), count(*) FROM candles").fetchall() == [(START, at(59), 60)]
        assert conn.sql("SELECT count(*) FROM tiny_candles").fetchall() == [(0,)]


def test_a_write_into_a_span_holding_nothing_knows_the_rows_it_stored_there_without_reading_them(warehouse):
    with warehouse.connect() as conn:
        store(conn, rows(100, 10))
        fresh = store(conn, rows(0, 60))
        stored = conn.sql("SELECT * FROM candles WHERE ts < ? ORDER BY ts", params=[at(60)]).pl()
        assert_frame_equal(fresh.span, stored)
        assert store(conn, rows(50, 60, price=200.0)).span is None  # held rows there: the caller reads them
