"""Asset factories: per-symbol hourly candle assets."""

from datafactory_assets.assets.candles import build_candle_asset, candle_assets, hourly_partitions

__all__ = ["build_candle_asset", "candle_assets", "hourly_partitions"]
