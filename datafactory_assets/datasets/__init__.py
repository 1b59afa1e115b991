"""The datasets the platform collects, by name: see `declaration.Dataset`."""

from datafactory_assets.datasets.declaration import Cadence, Dataset, VenueEndpoint
from datafactory_assets.datasets.open_interest import OPEN_INTEREST
from datafactory_assets.datasets.spot_candles import SPOT_CANDLES

DATASETS: dict[str, Dataset] = {dataset.name: dataset for dataset in (SPOT_CANDLES, OPEN_INTEREST)}

__all__ = ["DATASETS", "OPEN_INTEREST", "SPOT_CANDLES", "Cadence", "Dataset", "VenueEndpoint"]
