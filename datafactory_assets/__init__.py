"""Data-Factory: a complete, validated, always-fresh history of crypto candles, as Dagster assets over DuckDB."""

from datafactory_assets.definitions import defs

__all__ = ["defs"]
