from datetime import datetime, timedelta

import polars as pl

from datafactory_assets.checks import missing_ranges

START = datetime(2024, 3, 1, 10)
END = START + timedelta(hours=1)


def minutes(*present: int) -> pl.Series:
    return pl.Series([START + timedelta(minutes=m) for m in present], dtype=pl.Datetime("us"))


def test_complete_hour_has_no_ranges():
    assert missing_ranges(minutes(*range(60)), start=START, end=END, timeframe_ms=60_000).is_empty()


def test_holes_become_inclusive_ranges_with_counts():
    present = [m for m in range(60) if m not in {0, 1, 17, 30, 31, 32, 59}]
    ranges = missing_ranges(minutes(*present), start=START, end=END, timeframe_ms=60_000)
    assert ranges.rows() == [
        (START, START + timedelta(minutes=1), 2),
        (START + timedelta(minutes=17), START + timedelta(minutes=17), 1),
        (START + timedelta(minutes=30), START + timedelta(minutes=32), 3),
        (START + timedelta(minutes=59), START + timedelta(minutes=59), 1),
    ]


def test_empty_window_is_one_range_and_other_timeframes_count_their_own_candles():
    (row,) = missing_ranges(minutes(), start=START, end=END, timeframe_ms=60_000).rows()
    assert row == (START, START + timedelta(minutes=59), 60)
    ranges = missing_ranges(minutes(0, 5, 15), start=START, end=END, timeframe_ms=300_000)
    assert ranges["missing"].to_list() == [1, 8]  # 10:10, then 10:20..10:55
