"""The canonical frame from ccxt's rows: the column path gives the row path's frame, for every input."""

import polars as pl
import pytest

from datafactory_assets.frames import _ccxt_columns, candles_from_columns, candles_from_rows, row_oriented

T0 = 1_709_251_200_000
CCXT_ROWS = [[T0 + 60_000 * i, 1.5 + i, 2.5 + i, 1.0, 2.0, 0.1 * i] for i in range(50)]
ODD = {
    "nulls": [[T0, None, 2.0, 1.0, None, 3.0], [None, 1.0, 2.0, 1.0, 2.0, None]],
    "strings": [[T0, "1.5", "abc", "", 2.0, 3.0]],
    "ints": [[T0, 1, 2, 1, 2, 3]],
    "bools": [[True, True, False, 1.0, 2.0, 3.0]],
    "float times": [[T0 + 0.5, 1.0, 2.0, 1.0, 2.0, 3.0]],
    "time beyond Int64": [[2**70, 1.0, 2.0, 1.0, 2.0, 3.0]],
    "tuples": [tuple(row) for row in CCXT_ROWS],
    "NaN and infinities": [[T0, float("nan"), float("inf"), float("-inf"), 2.0, 3.0]],
    "mixed": [CCXT_ROWS[0], [T0 + 60_000, "x", None, 1, True, 2**70]],
}


def _row_path(rows):
    """The frame as the row-oriented build makes it (what candles_from_rows did for every input), or its error."""
    try:
        frame = row_oriented(rows)
    except Exception as exc:  # the comparison is the point: the same error must come out either way
        return type(exc)
    return candles_from_columns(frame, symbol="BTC/USDT", source="binance")


def _built(rows):
    try:
        return candles_from_rows(rows, symbol="BTC/USDT", source="binance")
    except Exception as exc:  # see _row_path
        return type(exc)


def test_ccxt_rows_take_the_column_path_into_the_row_paths_frame():
    assert _ccxt_columns(CCXT_ROWS) is not None
    assert candles_from_rows(CCXT_ROWS, symbol="BTC/USDT", source="binance").equals(_row_path(CCXT_ROWS))


@pytest.mark.parametrize("case", [*ODD, "short rows", "long rows", "dict rows"])
def test_any_other_rows_give_the_row_paths_frame_or_error(case):
    rows = ODD.get(case) or {"short rows": [[T0, 1.0, 2.0]], "long rows": [[*CCXT_ROWS[0], 7]],
                             "dict rows": [{"a": 1}]}[case]
    want, got = _row_path(rows), _built(rows)
    assert got.equals(want, null_equal=True) if isinstance(want, pl.DataFrame) else got is want
