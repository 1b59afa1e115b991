from datetime import datetime, timedelta

import polars as pl
import pytest

from datafactory_assets.checks import validate_candles
from datafactory_assets.checks.validation import validate_open_interest
from datafactory_assets.datasets.open_interest import open_interest_from_rows
from datafactory_assets.frames import candles_from_rows

START = datetime(2024, 3, 1, 10)
END = START + timedelta(hours=1)


def epoch_ms(moment: datetime) -> int:
    return int((moment - datetime(1970, 1, 1)).total_seconds() * 1000)


def good_rows(n: int = 60) -> list[list]:
    return [[epoch_ms(START) + i * 60_000, 10.0, 11.0, 9.0, 10.5, 3.0] for i in range(n)]


def frame(rows) -> pl.DataFrame:
    return candles_from_rows(rows, symbol="BTC/USDT", source="test")


def rules(rows) -> dict[str, int]:
    return {v.rule: v.count for v in validate_candles(frame(rows), start=START, end=END, timeframe_ms=60_000)}


def test_good_candles_pass():
    assert rules(good_rows()) == {}


@pytest.mark.parametrize(
    ("index", "row", "rule"),
    [
        (5, [None, 11.0, 9.0, 10.5, 3.0], "null_value"),
        (5, [10.0, 11.0, 9.0, 10.5, None], "null_value"),
        (5, [10.0, float("inf"), 9.0, 10.5, 3.0], "non_finite_value"),
        (5, [10.0, 11.0, 9.0, float("nan"), 3.0], "non_finite_value"),
        (5, [0.0, 11.0, 0.0, 10.5, 3.0], "non_positive_price"),
        (5, [10.0, 11.0, -1.0, 10.5, 3.0], "non_positive_price"),
        (5, [10.0, 11.0, 9.0, 10.5, -0.1], "negative_volume"),
        (5, [10.0, 10.2, 9.0, 10.5, 3.0], "ohlc_out_of_range"),
        (5, [10.0, 11.0, 10.2, 10.5, 3.0], "ohlc_out_of_range"),
        (5, [10.0, 9.0, 11.0, 10.0, 3.0], "ohlc_out_of_range"),
    ],
)
def test_each_kind_of_bad_value_is_named(index, row, rule):
    rows = good_rows()
    rows[index] = [rows[index][0], *row]
    assert rule in rules(rows)


def test_misaligned_outside_and_duplicate_timestamps_are_named():
    rows = good_rows()
    rows[3][0] += 1_000
    assert rules(rows) == {"misaligned_timestamp": 1}
    assert rules([*good_rows(), [epoch_ms(END), 10.0, 11.0, 9.0, 10.5, 3.0]]) == {"outside_window": 1}
    assert rules([*good_rows(), good_rows()[7]]) == {"duplicate_timestamp": 2}


def test_violation_names_the_first_offending_candle():
    rows = good_rows()
    rows[42][5] = -1.0
    (violation,) = validate_candles(frame(rows), start=START, end=END, timeframe_ms=60_000)
    assert violation.first_ts == START + timedelta(minutes=42)
    assert "negative_volume: 1 candle(s), first at 2024-03-01 10:42:00" == str(violation)


def test_a_tenfold_jump_is_implausible_within_a_candle_or_between_closes():
    rows = good_rows()
    rows[20] = [rows[20][0], 10.0, 1050.0, 9.0, 1050.0, 3.0]  # a spike whose high moved with it
    assert rules(rows) == {"implausible_jump": 2}  # the spike, and the fall back on the next candle
    rows = good_rows()
    rows[20] = [rows[20][0], 10.0, 95.0, 9.0, 10.5, 3.0]
    assert rules(rows) == {"implausible_jump": 1}
    rows = good_rows()
    rows[20] = [rows[20][0], 10.5, 94.5, 10.5, 94.5, 3.0]  # a ninefold move is extreme, but not refused
    assert rules(rows) == {}


def open_interest(rows) -> dict[str, int]:
    """The rules `(minutes after START, amount, value)` rows break, judged at 5m."""
    structures = [{"timestamp": epoch_ms(START) + minutes * 60_000, "openInterestAmount": amount,
                   "openInterestValue": value} for minutes, amount, value in rows]
    table = open_interest_from_rows(structures, symbol="BTC/USDT:USDT", source="test")
    return {v.rule: v.count for v in validate_open_interest(table, start=START, end=END, timeframe_ms=300_000)}


def test_open_interest_on_the_5m_grid_passes_and_a_venue_without_a_value_too():
    assert open_interest([(5 * n, 27_000.0 + n, 1.7e9) for n in range(12)]) == {}
    assert open_interest([(5 * n, 27_000.0 + n, None) for n in range(12)]) == {}  # Bybit gives no value
    assert open_interest([(0, 0.0, 0.0)]) == {}  # nothing open is a fact, not an error


@pytest.mark.parametrize(("row", "rule"), [
    ((5, -1.0, 1.7e9), "negative_open_interest"),
    ((5, 27_000.0, -1.0), "negative_open_interest"),
    ((5, None, 1.7e9), "null_value"),
    ((5, float("nan"), 1.7e9), "non_finite_value"),
    ((6, 27_000.0, 1.7e9), "misaligned_timestamp"),
    ((60, 27_000.0, 1.7e9), "outside_window"),
    ((0, 27_000.0, 1.7e9), "duplicate_timestamp"),
])
def test_each_open_interest_rule_names_its_offender(row, rule):
    assert rule in open_interest([(0, 27_000.0, 1.7e9), row])
