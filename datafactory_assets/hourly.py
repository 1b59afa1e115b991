"""How an hourly partition is spelled, and which hours have closed, kept free of Dagster so that the CLI can name
hours without importing it."""

from datetime import UTC, datetime, timedelta

PARTITION_FORMAT = "%Y-%m-%d-%H:%M"  # an hourly partition key, as Dagster spells it: 2025-01-01-05:00
HOUR = timedelta(hours=1)


def open_hour(now: datetime | None = None) -> datetime:
    """The start of the still-open hour (UTC): its candles are not all closed, so it is never a partition, and
    neither is anything after it."""
    return (now or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
