"""How an hourly partition is spelled, kept free of Dagster so that the CLI can name hours without importing it."""

PARTITION_FORMAT = "%Y-%m-%d-%H:%M"  # an hourly partition key, as Dagster spells it: 2025-01-01-05:00
