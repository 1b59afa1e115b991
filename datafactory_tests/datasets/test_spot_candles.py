"""Spot candles as a dataset declaration: every candle venue serves them, with the limits each venue documents."""

import pytest

from datafactory_assets.datasets import DATASETS, SPOT_CANDLES
from datafactory_assets.frames import CANDLE_SCHEMA
from datafactory_assets.sources.venues import VENUES

# (rows per request, weight per request, latest rows kept) as each venue documents them (cited in spot_candles.py);
# the same figures the venue quirks held before they moved into the declaration.
LIMITS = {
    "binance": (1000, 2, None),
    "binance_archive": (31 * 1440, 2, None),
    "okx": (300, 1, None),
    "bybit": (1000, 1, None),
    "kraken": (719, 1, 719),
    "coinbase": (300, 1, None),
    "yahoo": (7 * 1440, 1, None),
}


def test_spot_candles_are_registered_under_their_name():
    assert DATASETS["candles"] is SPOT_CANDLES
    assert SPOT_CANDLES.view == "all_candles"
    assert dict(SPOT_CANDLES.empty().schema) == CANDLE_SCHEMA


@pytest.mark.parametrize("venue", sorted(VENUES))
def test_every_candle_venue_serves_spot_candles_with_its_own_limits(venue):
    endpoint = SPOT_CANDLES.endpoint(venue)
    assert (endpoint.limit, endpoint.weight, endpoint.depth_rows) == LIMITS[venue]


def test_a_venue_that_does_not_serve_a_dataset_is_named():
    with pytest.raises(KeyError, match="coingecko does not serve the dataset candles"):
        SPOT_CANDLES.endpoint("coingecko")
