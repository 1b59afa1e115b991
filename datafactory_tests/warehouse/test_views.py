"""A second dataset gets gaps, coverage, healing, rollups, export and archive from its declaration alone: a test-only
OHLCV dataset at a fixed 5m cadence, in its own table beside spot candles, against a real DuckDB file."""

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from datafactory_assets.automation.healing_plan import HealingMemory, plan_tick
from datafactory_assets.checks.validation import validate_candles
from datafactory_assets.datasets import DATASETS, SPOT_CANDLES, Cadence, Dataset
from datafactory_assets.datasets.slots import slots_per_hour
from datafactory_assets.settings import HealingSettings, SymbolSettings
from datafactory_assets.warehouse import queries
from datafactory_assets.warehouse.archive import archive_before, archive_problems, restore_month
from datafactory_assets.warehouse.connection import archive_dir
from datafactory_assets.warehouse.export import export_candles
from datafactory_tests.helpers import add_dataset, five_minute_bars

BARS = five_minute_bars()
H21 = datetime(2025, 1, 31, 21)  # three hours, 21:00 to midnight, the last of January
UNTIL = datetime(2025, 2, 1)
BTC = SymbolSettings(symbol="BTC/USDT", timeframe="1m", start=H21.replace(tzinfo=UTC), sources=("binance",))
minute = timedelta(minutes=1)


def fill(conn) -> None:
    """Spot candles: whole from 21:00 to midnight but for 22:15, every source's confirmed hole, all asked for.
    Test bars: 21:00 whole, 22:00 without 22:10 (confirmed empty) and 22:15 (not), 23:00 nothing; asked up to
    23:00. Were the test bars' views to read spot candles' rows, holes, requests or instruments, the answers below
    would move."""
    add_dataset(conn, BARS)
    conn.execute("INSERT INTO symbols (symbol, timeframe_ms, start_ts) VALUES ('BTC/USDT', 60000, ?), "
                 "('ETH/USDT', 60000, ?)", [H21, H21])  # ETH/USDT: spot candles only, no longer configured
    conn.execute("INSERT INTO candles VALUES ('ETH/USDT', ?, 1, 1, 1, 1, 1, 'binance', now())", [H21])
    conn.execute("INSERT INTO candles SELECT 'BTC/USDT', ts, 1, 1, 1, 1, 1, 'binance', now() "
                 "FROM range(?::TIMESTAMP, ?::TIMESTAMP, INTERVAL 1 MINUTE) r(ts) WHERE ts <> ?",
                 [H21, UNTIL, H21 + 75 * minute])
    conn.execute("INSERT INTO test_bars SELECT 'BTC/USDT', ts, 2, 3, 1, 2, 5, 'binance', now() "
                 "FROM range(?::TIMESTAMP, ?::TIMESTAMP, INTERVAL 5 MINUTE) r(ts) WHERE ts NOT IN (?, ?)",
                 [H21, H21 + 2 * timedelta(hours=1), H21 + 70 * minute, H21 + 75 * minute])
    conn.execute("INSERT INTO known_gaps (dataset, symbol, ts, confirmed_at, sources, confirmations) "
                 "VALUES ('candles', 'BTC/USDT', ?, now(), 'binance', 2), "
                 "('test_bars', 'BTC/USDT', ?, now(), 'binance', 2)", [H21 + 75 * minute, H21 + 70 * minute])
    conn.execute("INSERT INTO ingest_log (dataset, requested_at, source, symbol, window_start, window_end, rows, "
                 "latency_ms, outcome) VALUES ('candles', now(), 'binance', 'BTC/USDT', ?, ?, 179, 1, 'ok'), "
                 "('test_bars', now(), 'binance', 'BTC/USDT', ?, ?, 22, 1, 'ok')",
                 [H21, UNTIL, H21, H21 + timedelta(hours=2)])


def answers(conn) -> dict:
    return {"coverage": queries.coverage(conn, [BTC], until=UNTIL, dataset=BARS),
            "gaps": queries.gaps(conn, dataset=BARS),
            "ranges": queries.incomplete_ranges(conn, [("BTC/USDT", H21, slots_per_hour(BARS, BTC.timeframe_ms))],
                                                until=UNTIL, dataset=BARS),
            "bars": conn.sql("SELECT ts, candles FROM test_bars_1h ORDER BY ts").fetchall()}


def test_a_second_dataset_counts_its_own_rows_at_its_own_cadence(warehouse):
    with warehouse.connect() as conn:
        fill(conn)
        got = answers(conn)
        spot = queries.coverage(conn, [BTC], until=UNTIL)
        spot_ranges = queries.incomplete_ranges(conn, [("BTC/USDT", H21, BTC.candles_per_hour)], until=UNTIL)
    coverage = got["coverage"].select("symbol", "expected", "rows", "confirmed_empty", "missing", "not_fetched",
                                      "completeness_pct", "last_ts")
    assert coverage.rows() == [("BTC/USDT", 36, 22, 1, 1, 12, 63.8889, H21 + timedelta(minutes=115))]
    assert got["gaps"].select("first_missing", "last_missing", "missing", "confirmed_empty",
                              "unconfirmed").rows() == [(H21 + 70 * minute, H21 + 75 * minute, 2, 1, 1)]
    assert got["ranges"] == {"BTC/USDT": [(H21 + timedelta(hours=1), UNTIL)]}
    assert got["bars"] == [(H21, 12), (H21 + timedelta(hours=1), 10)]
    # spot candles are untouched by the test bars: complete, their hole confirmed, nothing to heal
    assert spot.select("symbol", "expected", "rows", "confirmed_empty", "missing", "not_fetched").rows() == [
        ("BTC/USDT", 180, 179, 1, 0, 0), ("ETH/USDT", 180, 1, 0, 0, 179)]
    assert spot_ranges == {"BTC/USDT": []}


def test_healing_asks_for_the_second_datasets_incomplete_hours(warehouse):
    with warehouse.connect() as conn:
        fill(conn)
        ranges = answers(conn)["ranges"]
    tick = plan_tick(ranges, in_flight=(), memory=HealingMemory(), now=0.0,
                     settings=HealingSettings(order="oldest"), partitions_per_run=24)
    assert [(run.symbol, run.partition_keys) for run in tick.runs] == [
        ("BTC/USDT", ("2025-01-31-22:00", "2025-01-31-23:00"))]


def test_archiving_the_second_dataset_moves_its_months_only_and_changes_no_answer(warehouse, tmp_path):
    datasets = {**DATASETS, BARS.name: BARS}
    with warehouse.connect() as conn:
        fill(conn)
        before = answers(conn)
        moved = archive_before(conn, archive_dir=archive_dir(warehouse.path), before=date(2025, 2, 1),
                               dataset=BARS)
        after = answers(conn)
        left = conn.sql("SELECT (SELECT count(*) FROM test_bars), (SELECT count(*) FROM candles)").fetchall()
        problems = archive_problems(conn, datasets=datasets)
        exported = export_candles(conn, symbol="BTC/USDT", start=None, end=None, path=tmp_path / "bars.csv",
                                  fmt="csv", dataset=BARS)
        restored = restore_month(conn, archive_dir=archive_dir(warehouse.path), symbol="BTC/USDT", month="2025-01",
                                 dataset=BARS)
    assert [(m.symbol, m.month, m.rows) for m in moved] == [("BTC/USDT", "2025-01", 22)]
    assert (archive_dir(warehouse.path) / "test_bars" / "symbol=BTC%2FUSDT" / "month=2025-01").is_dir()
    assert left == [(0, 180)] and problems == [] and restored == 22
    for name in ("coverage", "gaps"):
        assert after[name].equals(before[name]), name
    assert (after["ranges"], after["bars"]) == (before["ranges"], before["bars"])
    exported_frame = pl.read_csv(tmp_path / "bars.csv", try_parse_dates=True)
    assert exported == exported_frame.height == 22
    assert exported_frame["close"].unique().to_list() == [2.0]


def test_export_refuses_a_dataset_that_is_not_ohlcv_in_one_line(warehouse, tmp_path):
    rates = Dataset(name="test_rates", table="test_rates", schema={"symbol": pl.String(), "ts": pl.Datetime("us"),
                                                                   "rate": pl.Float64(), "source": pl.String()},
                    keys=("symbol", "ts"), values=("rate",), cadence=Cadence(fixed="1h"), validate=validate_candles,
                    venues={})
    with warehouse.connect() as conn, pytest.raises(ValueError, match="^test_rates rows are not OHLCV bars"):
        export_candles(conn, symbol="BTC/USDT", start=None, end=None, path=tmp_path / "x.csv", dataset=rates)
    assert not (tmp_path / "x.csv").exists() and SPOT_CANDLES.ohlcv and not rates.ohlcv
