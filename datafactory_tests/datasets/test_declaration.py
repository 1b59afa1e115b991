"""What a declaration derives for the warehouse (revisions table, view names, whether rows are OHLCV bars), and the
declarations it refuses."""

from dataclasses import replace

import polars as pl
import pytest

from datafactory_assets.datasets import SPOT_CANDLES


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
