"""Refuses a run whose partitions reach the still-open hour, whatever way it was launched.

The partitions definitions end at the last closed hour (or day), so the UI's partition picker never offers the
still-open one; but Dagster 1.13 takes a run's `dagster/asset_partition_range_start` / `_end` tags (or a
`dagster/partition` tag) as they are: a run launched through GraphQL, or from the launchpad with hand-written tags,
for a range ending at the still-open hour or later is planned over partitions that do not exist yet, and a
successful run would mark them materialized while the still-open candle is never stored (`datafactory backfill`
refuses such a range before launching, `automation/backfill.py`). So the step refuses it before anything is fetched.
"""

import dagster as dg

from datafactory_assets.hourly import HOUR, PARTITION_FORMAT, open_hour


def refuse_unclosed_partitions(context: dg.AssetExecutionContext) -> None:
    """Fail the step, with one line naming the range and the last closed hour, when its window ends after the
    still-open hour begins."""
    window, opened = context.partition_time_window, open_hour()
    if window.end > opened:
        keys = context.partition_keys
        raise dg.Failure(description=(
            f"refused: partitions {keys[0]} .. {keys[-1]} reach the still-open hour {opened:{PARTITION_FORMAT}} "
            f"UTC, which is never stored; the last closed hour is {opened - HOUR:{PARTITION_FORMAT}}. "
            "Nothing was fetched or stored."), allow_retries=False)
