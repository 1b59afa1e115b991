"""Spot candles as a dataset declaration: what it says about each venue agrees with the venue quirks in use."""

import pytest

from datafactory_assets.datasets import DATASETS, SPOT_CANDLES
from datafactory_assets.frames import CANDLE_SCHEMA
from datafactory_assets.sources.venues import VENUES


def test_spot_candles_are_registered_under_their_name():
    assert DATASETS["candles"] is SPOT_CANDLES
    assert SPOT_CANDLES.view == "all_candles"
    assert dict(SPOT_CANDLES.empty().schema) == CANDLE_SCHEMA


@pytest.mark.parametrize("venue", sorted(VENUES))
def test_every_candle_venue_serves_spot_candles_with_its_own_limits(venue):
    endpoint = SPOT_CANDLES.endpoint(venue)
    assert endpoint.limit == VENUES[venue].max_candles_per_request
    assert endpoint.weight == VENUES[venue].request_weight
    assert endpoint.depth_rows == VENUES[venue].history_candles


def test_a_venue_that_does_not_serve_a_dataset_is_named():
    with pytest.raises(KeyError, match="coingecko does not serve the dataset candles"):
        SPOT_CANDLES.endpoint("coingecko")
