"""Data-Factory: a complete, validated, always-fresh history of crypto candles, as Dagster assets over DuckDB.

The package face is empty on purpose: Dagster loads the code location from `datafactory_assets.definitions`, and the
CLI's warehouse commands import only what they read, never Dagster.
"""
