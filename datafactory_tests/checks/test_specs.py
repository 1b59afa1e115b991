"""The gaps check's result counts what its dataset's rows are, and alerts read the count back whatever it is."""

from datetime import datetime

import polars as pl
import pytest

from datafactory_assets.checks.specs import gaps_missing, gaps_result
from datafactory_assets.datasets import FUNDING_RATES, OPEN_INTEREST, SPOT_CANDLES

RANGES = pl.DataFrame({"first_missing": [datetime(2025, 1, 1, 8)], "last_missing": [datetime(2025, 1, 1, 16)],
                       "missing": [2]})


@pytest.mark.parametrize(("dataset", "key"), [(SPOT_CANDLES, "missing_candles"),
                                              (FUNDING_RATES, "missing_funding_events"),
                                              (OPEN_INTEREST, "missing_open_interest_readings")])
def test_the_gaps_count_is_named_for_the_datasets_rows(dataset, key):
    result = gaps_result(RANGES, unit=dataset.unit)
    metadata = {name: getattr(value, "value", value) for name, value in result.metadata.items()}
    assert [name for name in metadata if name.startswith("missing_")] == [key]
    assert gaps_missing(metadata) == (2, key.removeprefix("missing_").replace("_", " "))
    assert f"| first missing | last missing | {dataset.unit}s |" in metadata["ranges"]


def test_metadata_without_a_count_has_none():
    assert gaps_missing({"gap_ranges": 1, "missing_note": "text"}) is None
