"""What a declaration derives for the warehouse, and the declarations it refuses."""

from dataclasses import replace

import pytest

from datafactory_assets.datasets import SPOT_CANDLES


def test_spot_candles_keep_their_revisions_table_and_another_dataset_gets_one_named_after_its_table():
    assert SPOT_CANDLES.revisions_table == "candle_revisions"
    assert replace(SPOT_CANDLES, table="perp", revisions=None).revisions_table == "perp_revisions"
    assert SPOT_CANDLES.row_keys == ("ts",)


def test_a_declaration_whose_keys_or_values_are_not_its_columns_is_refused():
    with pytest.raises(ValueError, match="dataset broken: price is not a column of its schema; its keys must hold"):
        replace(SPOT_CANDLES, name="broken", keys=("symbol",), values=("price",))
