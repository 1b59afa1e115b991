from datetime import datetime, timedelta

import duckdb
import polars as pl
import pytest

from datafactory_assets.frames import candles_from_rows
from datafactory_assets.warehouse import queries
from datafactory_assets.warehouse.writes import upsert_candles
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
