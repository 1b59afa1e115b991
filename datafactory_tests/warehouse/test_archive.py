"""Archiving closed months to Parquet changes where candles live, never what the warehouse answers."""

import os
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse import WarehouseResource
from datafactory_assets.warehouse import archive as archives
from datafactory_assets.warehouse import queries
from datafactory_assets.warehouse.export import export_candles
from datafactory_assets.warehouse.integrity import find_problems
from datafactory_assets.warehouse.rollups import write_rollup
from datafactory_tests.helpers import symbol_settings

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2024, 4, 10, tzinfo=UTC)
CUTOFF = date(2024, 4, 1)
SYMBOLS = (symbol_settings("BTC/USDT", start=START), symbol_settings("ETH/USDT", start=START, timeframe="1h"))


@pytest.fixture(scope="module")
def filled(tmp_path_factory, emulator_session):
    """Fourteen weeks of 1m BTC (with the venue's holes) and 1h ETH candles, stored through the real ingest path."""
    path = tmp_path_factory.mktemp("filled") / "warehouse.duckdb"
    warehouse = WarehouseResource(path=str(path))
    emulator_session.clear_faults()
    emulator_session.add_fault("binance:holes:0.002")
    try:
        for symbol in SYMBOLS:
            ingest_window(symbol, start=START, end=END, sources=SourcesResource(emulator_url=emulator_session.url),
                          warehouse=warehouse)
    finally:
        emulator_session.clear_faults()
    return path


@pytest.fixture
def warehouse(filled, tmp_path) -> WarehouseResource:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(filled, copy)
    return WarehouseResource(path=str(copy), lock_timeout_s=10)


def snapshot(warehouse: WarehouseResource, export_dir) -> dict:
    """Everything an operator or a backtester reads from the warehouse."""
    with warehouse.connect() as conn:
        write_rollup(conn, symbol="BTC/USDT", bucket="1h", start=datetime(2024, 3, 30), end=datetime(2024, 4, 2))
        export_dir.mkdir(exist_ok=True)
        export_candles(conn, symbol="BTC/USDT", start=None, end=None, path=export_dir / "btc.parquet",
                       overwrite=True)
        return {
            "counts": conn.sql("SELECT symbol, count(*) FROM all_candles GROUP BY symbol ORDER BY symbol").fetchall(),
            "coverage": queries.coverage(conn),
            "gaps": queries.gaps(conn),
            "1h": conn.sql("SELECT * FROM candles_1h ORDER BY symbol, ts").pl(),
            "1d": conn.sql("SELECT * FROM candles_1d ORDER BY symbol, ts").pl(),
            "rollup": conn.sql("SELECT * FROM rollup_1h ORDER BY symbol, ts").pl(),
            "window": queries.window_candles(conn, "BTC/USDT", datetime(2024, 3, 31, 23), datetime(2024, 4, 1, 1)),
            "export": pl.read_parquet(export_dir / "btc.parquet"),
        }


def assert_same(before: dict, after: dict) -> None:
    """Exactly equal, except that a bar's summed volume may differ in its last bit: DuckDB adds doubles in the order
    rows reach the aggregate, and rows read from a Parquet file arrive in another order than from the table."""
    for key, value in before.items():
        if key in {"1h", "1d", "rollup"}:
            assert value.drop("volume").equals(after[key].drop("volume")), key
            assert ((value["volume"] - after[key]["volume"]).abs() <= 1e-12 * value["volume"].abs()).all(), key
        elif isinstance(value, pl.DataFrame):
            assert value.equals(after[key]), key
        else:
            assert value == after[key], key


def stored(snap: dict, symbol: str | None, first: str, until: str) -> int:
    """Candles of `symbol` (None: every symbol) with open time in [first, until), counted from the 1d bars."""
    days = snap["1d"].filter(pl.col("ts") >= datetime.fromisoformat(first),
                             pl.col("ts") < datetime.fromisoformat(until))
    return int(days.filter(pl.col("symbol") == symbol)["candles"].sum() if symbol else days["candles"].sum())


def table_rows(warehouse: WarehouseResource) -> int:
    with warehouse.connect(read_only=True) as conn:
        return conn.sql("SELECT count(*) FROM candles").fetchall()[0][0]


def test_archive_moves_closed_months_and_every_answer_stays_the_same(warehouse, tmp_path):
    before = snapshot(warehouse, tmp_path / "exports")
    assert before["gaps"].height > 20 and before["counts"][0][1] > 140_000
    with warehouse.connect() as conn:
        conn.execute("CHECKPOINT")
    size_before, rows_before = os.path.getsize(warehouse.path), table_rows(warehouse)

    with warehouse.connect() as conn:
        moves = archives.archive_before(conn, archive_dir=warehouse.archive_path, before=CUTOFF)
        assert archives.compact(conn) == Path(warehouse.path)
    assert [(m.symbol, m.month) for m in moves] == [
        (symbol, month) for month in ("2024-01", "2024-02", "2024-03") for symbol in ("BTC/USDT", "ETH/USDT")]
    assert sum(m.rows for m in moves) == rows_before - table_rows(warehouse)
    assert table_rows(warehouse) == stored(before, None, "2024-04-01", "2024-05-01")
    files = sorted(p.relative_to(warehouse.archive_path).as_posix() for p in warehouse.archive_path.rglob("*"))
    assert "symbol=BTC%2FUSDT/month=2024-01/data.parquet" in files and len(
        [f for f in files if f.endswith(".parquet")]) == 6
    assert os.path.getsize(warehouse.path) < size_before / 2
    assert sorted(p.name for p in Path(warehouse.path).parent.iterdir()) == [
        "exports", "warehouse.archive", "warehouse.duckdb", "warehouse.duckdb.lock"]  # no compaction leftovers

    assert_same(before, snapshot(warehouse, tmp_path / "exports"))
    with warehouse.connect() as conn:
        assert find_problems(conn) == []
        assert archives.archive_before(conn, archive_dir=warehouse.archive_path, before=CUTOFF) == []
    assert_same(before, snapshot(warehouse, tmp_path / "exports"))


def test_the_archived_warehouse_still_reads_after_it_moves_with_its_archive(warehouse, tmp_path):
    before = snapshot(warehouse, tmp_path / "exports")
    with warehouse.connect() as conn:
        archives.archive_before(conn, archive_dir=warehouse.archive_path, before=CUTOFF)
    elsewhere = tmp_path / "moved"
    elsewhere.mkdir()
    shutil.move(warehouse.path, elsewhere / "renamed.duckdb")
    shutil.move(warehouse.archive_path, elsewhere / "renamed.archive")
    moved = WarehouseResource(path=str(elsewhere / "renamed.duckdb"))
    assert_same(before, snapshot(moved, tmp_path / "exports"))
    with moved.connect(read_only=True) as conn:
        assert queries.coverage(conn).equals(before["coverage"])


def test_an_interrupted_move_is_invisible_and_the_rerun_completes_it(warehouse, tmp_path):
    before = snapshot(warehouse, tmp_path / "exports")
    with warehouse.connect() as conn:
        archives.archive_before(conn, archive_dir=warehouse.archive_path, before=date(2024, 2, 1))
        # What a run killed after renaming February's file, before its commit, leaves behind: the file in place,
        # a temporary file of the next month, and the rows still in the table.
        february = warehouse.archive_path / archives.month_file("BTC/USDT", "2024-02")
        february.parent.mkdir(parents=True)
        conn.execute(f"COPY (SELECT ts, open, high, low, close, volume, source, ingested_at FROM candles WHERE "
                     f"symbol = 'BTC/USDT' AND ts >= '2024-02-01' AND ts < '2024-03-01') TO '{february}'")
        (february.parent / ".data.0123.partial").write_bytes(b"half a parquet file")
    assert_same(before, snapshot(warehouse, tmp_path / "exports"))
    with warehouse.connect() as conn:
        moves = archives.archive_before(conn, archive_dir=warehouse.archive_path, before=CUTOFF)
        assert [(m.symbol, m.month) for m in moves][:2] == [("BTC/USDT", "2024-02"), ("ETH/USDT", "2024-02")]
        assert find_problems(conn) == []
    assert not list(warehouse.archive_path.rglob("*.partial"))
    assert_same(before, snapshot(warehouse, tmp_path / "exports"))


def test_writes_into_an_archived_month_are_refused_until_it_is_restored(warehouse, emulator, tmp_path):
    before = snapshot(warehouse, tmp_path / "exports")
    with warehouse.connect() as conn:
        archives.archive_before(conn, archive_dir=warehouse.archive_path, before=CUTOFF)
    sources = SourcesResource(emulator_url=emulator.url)
    hour = datetime(2024, 2, 10, 5, tzinfo=UTC)
    with pytest.raises(archives.ArchivedMonthError, match=r"BTC/USDT 2024-02 is archived.*archive --restore "
                                                          r"2024-02 --symbol BTC/USDT"):
        ingest_window(SYMBOLS[0], start=hour, end=hour + timedelta(hours=1), sources=sources, warehouse=warehouse)
    assert_same(before, snapshot(warehouse, tmp_path / "exports"))

    with warehouse.connect() as conn:
        restored = archives.restore_month(conn, archive_dir=warehouse.archive_path, symbol="BTC/USDT",
                                          month="2024-02")
    assert not (warehouse.archive_path / archives.month_file("BTC/USDT", "2024-02")).exists()
    assert restored == stored(before, "BTC/USDT", "2024-02-01", "2024-03-01")
    assert_same(before, snapshot(warehouse, tmp_path / "exports"))
    ingest_window(SYMBOLS[0], start=hour, end=hour + timedelta(hours=1), sources=sources, warehouse=warehouse)
    with warehouse.connect() as conn:
        assert find_problems(conn) == []
        assert archives.archive_before(conn, archive_dir=warehouse.archive_path, before=CUTOFF)[0].month == "2024-02"
        with pytest.raises(ValueError, match=r"BTC/USDT 2023-12 is not archived; archived: \['BTC/USDT 2024-01'"):
            archives.restore_month(conn, archive_dir=warehouse.archive_path, symbol="BTC/USDT", month="2023-12")


def test_doctor_counts_copies_across_table_and_archive_and_missing_files(warehouse):
    with warehouse.connect() as conn:
        archives.archive_before(conn, archive_dir=warehouse.archive_path, before=CUTOFF)
        conn.execute("INSERT INTO candles SELECT * FROM all_candles WHERE symbol = 'ETH/USDT' AND ts < '2024-01-02'")
        (finding,) = find_problems(conn)
        assert (finding.check, finding.count, finding.example) == ("duplicate_candles", 24,
                                                                  "ETH/USDT 2024-01-01 00:00:00")
        with pytest.raises(archives.ArchivedMonthError, match="ETH/USDT 2024-01"):
            archives.archive_before(conn, archive_dir=warehouse.archive_path, before=CUTOFF)
    (warehouse.archive_path / archives.month_file("ETH/USDT", "2024-02")).unlink()
    with warehouse.connect(read_only=True) as conn:
        (finding,) = find_problems(conn)
    assert finding.check == "archive_files" and "ETH/USDT 2024-02: file symbol=ETH%2FUSDT" in finding.example


@pytest.mark.parametrize(("text", "message"), [
    ("2024-03-15", "not the first day of a month: archives hold whole months; use 2024-03-01 or 2024-04-01"),
    ("March", "is not a month start such as 2025-03-01"),
    ("2024-07", "after the current month's start 2024-06-01: only closed months"),
])
def test_the_cutoff_is_a_closed_month_boundary(text, message):
    with pytest.raises(ValueError, match=message):
        archives.parse_cutoff(text, today=date(2024, 6, 20))
    assert archives.parse_cutoff("2024-06", today=date(2024, 6, 20)) == date(2024, 6, 1)
