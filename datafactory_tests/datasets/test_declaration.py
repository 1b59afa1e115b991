"""What a declaration derives for the warehouse (revisions table, view names, whether rows are OHLCV bars), the
declarations it refuses, and its violations counted in its unit."""

from dataclasses import replace
from datetime import datetime

import polars as pl
import pytest

from datafactory_assets.datasets import FUNDING_RATES, SPOT_CANDLES


def test_spot_candles_keep_their_revisions_table_and_another_dataset_gets_one_named_after_its_table():
    assert SPOT_CANDLES.revisions_table == "candle_revisions"
    assert replace(SPOT_CANDLES, table="perp", revisions=None).revisions_table == "perp_revisions"
    assert SPOT_CANDLES.row_keys == ("ts",)


def test_a_declaration_whose_keys_or_values_are_not_its_columns_is_refused():
    with pytest.raises(ValueError, match="dataset broken: price is not a column of its schema; its keys must hold"):
        replace(SPOT_CANDLES, name="broken", keys=("symbol",), values=("price",))


def test_spot_candles_keep_their_view_names_and_another_dataset_is_prefixed_with_its_own():
    perp = replace(SPOT_CANDLES, name="perp_candles", table="perp_candles", view_prefix=None)
    assert [SPOT_CANDLES.relation(k) for k in ("gaps", "coverage_at")] == ["gaps", "coverage_at"]
    assert [perp.relation(k) for k in ("gaps", "coverage_at")] == ["perp_candles_gaps", "perp_candles_coverage_at"]
    assert perp.view == "all_perp_candles"


def test_only_a_schema_with_every_ohlcv_column_is_ohlcv():
    funding = replace(SPOT_CANDLES, values=("rate",), schema={
        "symbol": pl.String(), "ts": pl.Datetime("us"), "rate": pl.Float64(), "close": pl.Float64(),
        "source": pl.String()})
    assert SPOT_CANDLES.ohlcv and not funding.ohlcv



def test_violations_count_rows_in_the_datasets_unit_spot_candles_as_before():
    """Before, every violation counted candle(s), a funding run's too."""
    start, end = datetime(2025, 6, 2), datetime(2025, 6, 3)
    events = pl.DataFrame({"symbol": ["BTC/USDT:USDT"], "ts": [start], "rate": [0.5], "mark_price": [None],
                           "interval_ms": [28_800_000], "venue_ts": [start], "source": ["binance"], "rate_cap": [None],
                           "rate_floor": [None], "caps_from": [None]}, schema=dict(FUNDING_RATES.schema))
    (beyond,) = FUNDING_RATES.violations(events, start=start, end=end)
    assert str(beyond).startswith(f"rate_beyond_cap: 1 funding event(s), first at {start} (rate +0.5 beyond")
    candle = pl.DataFrame({"symbol": ["BTC/USDT"], "ts": [start], "open": [1.0], "high": [2.0], "low": [1.0],
                           "close": [1.0], "volume": [-1.0], "source": ["binance"]}, schema=dict(SPOT_CANDLES.schema))
    (negative,) = SPOT_CANDLES.violations(candle, start=start, end=end, timeframe_ms=60_000)
    assert str(negative) == f"negative_volume: 1 candle(s), first at {start}"
