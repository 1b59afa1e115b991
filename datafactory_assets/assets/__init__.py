"""Asset factories: per-symbol hourly candle assets, and the coverage asset over them."""

from datafactory_assets.assets.candles import build_candle_asset, candle_assets, hourly_partitions
from datafactory_assets.assets.coverage import COVERAGE_KEY, build_coverage_asset

__all__ = ["COVERAGE_KEY", "build_candle_asset", "build_coverage_asset", "candle_assets", "hourly_partitions"]
