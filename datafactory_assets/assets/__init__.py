"""Asset factories: per-symbol hourly candle assets, their 1h / 1d rollups, the coverage and source health assets."""

from datafactory_assets.assets.candles import (
    PARTITION_FORMAT,
    build_candle_asset,
    candle_assets,
    candle_key,
    dataset_keys,
    hourly_partitions,
)
from datafactory_assets.assets.coverage import COVERAGE_KEY, build_coverage_asset
from datafactory_assets.assets.health import SOURCE_HEALTH_KEY, build_source_health_asset
from datafactory_assets.assets.rollups import build_rollup_assets, rollup_assets

__all__ = [
    "COVERAGE_KEY",
    "PARTITION_FORMAT",
    "SOURCE_HEALTH_KEY",
    "build_candle_asset",
    "build_coverage_asset",
    "build_rollup_assets",
    "build_source_health_asset",
    "candle_assets",
    "candle_key",
    "dataset_keys",
    "hourly_partitions",
    "rollup_assets",
]
