"""What a declaration derives: the names of its generated views and whether its rows are OHLCV bars."""

import dataclasses

import polars as pl

from datafactory_assets.datasets import SPOT_CANDLES


def test_spot_candles_keep_their_view_names_and_another_dataset_is_prefixed_with_its_own():
    perp = dataclasses.replace(SPOT_CANDLES, name="perp_candles", table="perp_candles", view_prefix=None)
    assert [SPOT_CANDLES.relation(k) for k in ("gaps", "coverage_at")] == ["gaps", "coverage_at"]
    assert [perp.relation(k) for k in ("gaps", "coverage_at")] == ["perp_candles_gaps", "perp_candles_coverage_at"]
    assert perp.view == "all_perp_candles"


def test_only_a_schema_with_every_ohlcv_column_is_ohlcv():
    funding = dataclasses.replace(SPOT_CANDLES, schema={"symbol": pl.String(), "ts": pl.Datetime("us"),
                                                        "rate": pl.Float64(), "close": pl.Float64()})
    assert SPOT_CANDLES.ohlcv and not funding.ohlcv
