"""The datasets the platform collects, by name: see `declaration.Dataset`."""

from datafactory_assets.datasets.declaration import Cadence, Dataset, VenueEndpoint
from datafactory_assets.datasets.funding_rates import FUNDING_RATES
from datafactory_assets.datasets.perp_candles import INDEX_CANDLES, MARK_CANDLES, PERP_CANDLES, PREMIUM_CANDLES
from datafactory_assets.datasets.spot_candles import SPOT_CANDLES

DATASETS: dict[str, Dataset] = {dataset.name: dataset for dataset in (
    SPOT_CANDLES, PERP_CANDLES, MARK_CANDLES, INDEX_CANDLES, PREMIUM_CANDLES, FUNDING_RATES)}

__all__ = ["DATASETS", "FUNDING_RATES", "INDEX_CANDLES", "MARK_CANDLES", "PERP_CANDLES", "PREMIUM_CANDLES",
           "SPOT_CANDLES", "Cadence", "Dataset", "VenueEndpoint"]
