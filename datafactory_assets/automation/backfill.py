"""Asset partition backfills of the hours the warehouse lacks, launched through a running webserver's GraphQL API.

The warehouse, not Dagster's partition status, says what is stored: a backfill asks only for the hours it does not
hold complete, each run of adjacent missing hours as its own range. An asset backfill lets Dagster apply each asset's
`BackfillPolicy` (a month of hourly partitions per run) to every range, whereas `dagster job backfill` launches one
run per partition: 8,760 runs for a year of one symbol.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import duckdb
import requests

from datafactory_assets.assets import PARTITION_FORMAT
from datafactory_assets.automation.run_tags import by_primary_source
from datafactory_assets.settings import Settings, SymbolSettings
from datafactory_assets.warehouse import queries

HOUR = timedelta(hours=1)
HourRange = tuple[datetime, datetime]  # first and last hour start, both inclusive, UTC
DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
RUN_DONE = {"SUCCESS", "FAILURE", "CANCELED"}

_LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}"""

_STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { id status numPartitions runs(limit: 1000) { runId status } }
    ... on Error { message }
  }
}"""


class BackfillError(RuntimeError):
    """The webserver refused or could not run the backfill."""


def partition_range(first: str, last: str, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    """Parse inclusive hour bounds: `2025-01-01` (a day: its first hour, or for `last` its last hour),
    `2025-01-01T05:00` or a partition key `2025-01-01-05:00`. The last hour must have finished."""
    start, _ = _hour(first, "--from")
    end, whole_day = _hour(last, "--to")
    if whole_day:
        end += timedelta(hours=23)
    latest = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    if start > end:
        raise ValueError(f"--from {first} is after --to {last}")
    if end > latest:
        raise ValueError(f"--to {last} reaches past the last complete hour ({latest:{PARTITION_FORMAT}} UTC)")
    return start, end


def selected_symbols(settings: Settings, symbols: list[str], start: datetime) -> list[SymbolSettings]:
    """The named symbols (every configured one when none are named), each refused when unknown or when `start`
    precedes its first partition."""
    configured = {s.symbol: s for s in settings.symbols}
    unknown = [s for s in symbols if s not in configured]
    if unknown:
        raise ValueError(f"symbols {unknown} are not in {settings.config_path}; configured: {sorted(configured)}")
    selected = [configured[s] for s in symbols] or list(settings.symbols)
    early = [s.symbol for s in selected if start < s.start]
    if early:
        raise ValueError(f"--from {start:{PARTITION_FORMAT}} is before the first partition of {early}")
    return selected


def whole_window(symbols: list[SymbolSettings], start: datetime,
                 end: datetime) -> dict[SymbolSettings, list[HourRange]]:
    """Every hour of [start, end] for every symbol: what `--refetch`, or a warehouse not created yet, asks for."""
    return {s: [(start, end)] for s in symbols}


def missing_ranges(conn: duckdb.DuckDBPyConnection, symbols: list[SymbolSettings], start: datetime,
                   end: datetime) -> dict[SymbolSettings, list[HourRange]]:
    """Per symbol, the runs of hours in [start, end] the warehouse does not hold complete (confirmed holes count as
    held), oldest first: all a backfill needs to ask for."""
    return {s: hour_runs(hour.replace(tzinfo=UTC) for hour in queries.incomplete_hours(
        conn, s.symbol, start=start, until=end + HOUR, per_hour=s.candles_per_hour)) for s in symbols}


def hour_runs(hours: Iterable[datetime]) -> list[HourRange]:
    """Ascending hour starts as runs of adjacent hours: (first, last), both inclusive."""
    runs: list[HourRange] = []
    for hour in hours:
        if runs and hour - runs[-1][1] == HOUR:
            runs[-1] = (runs[-1][0], hour)
        else:
            runs.append((hour, hour))
    return runs


def asset_ranges(plan: Mapping[SymbolSettings, Sequence[HourRange]]) -> list[dict]:
    """`partitionsByAssets` for the symbols with hours to fetch: one entry per asset carrying all of its `ranges`,
    which Dagster cuts into runs by the backfill policy range by range, never across a stored stretch."""
    return [{"assetKey": {"path": ["candles", s.asset_name]},
             "partitions": {"ranges": [{"start": f"{first:{PARTITION_FORMAT}}", "end": f"{last:{PARTITION_FORMAT}}"}
                                       for first, last in ranges]}}
            for s, ranges in plan.items() if ranges]


def source_backfills(plan: Mapping[SymbolSettings, Sequence[HourRange]]) -> dict[str, list[dict]]:
    """`asset_ranges` split by the symbols' primary source: one backfill each, so its runs carry one source tag."""
    groups = {source: asset_ranges({s: plan[s] for s in group})
              for source, group in by_primary_source(plan).items()}
    return {source: selection for source, selection in groups.items() if selection}


def launch_backfill(url: str, partitions_by_assets: list[dict], *, title: str | None = None,
                    tags: dict[str, str] | None = None) -> str:
    """Submit the backfill and return its id; its runs carry `tags`."""
    params = {"partitionsByAssets": partitions_by_assets, **({"title": title} if title else {}),
              "tags": [{"key": key, "value": value} for key, value in (tags or {}).items()]}
    result = _graphql(url, _LAUNCH, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise BackfillError(f"backfill refused ({result['__typename']}): {result.get('message')}")
    return result["backfillId"]


def backfill_status(url: str, backfill_id: str) -> dict:
    """The backfill's status, partition count and runs (each with its status), as the webserver sees it now."""
    backfill = _graphql(url, _STATUS, {"id": backfill_id})["partitionBackfillOrError"]
    if backfill["__typename"] != "PartitionBackfill":
        raise BackfillError(f"backfill {backfill_id}: {backfill.get('message')}")
    return backfill


def _hour(text: str, option: str) -> tuple[datetime, bool]:
    for fmt, whole_day in ((PARTITION_FORMAT, False), ("%Y-%m-%dT%H:%M", False), ("%Y-%m-%d", True)):
        try:
            moment = datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        if moment.minute:
            raise ValueError(f"{option} {text} must fall on a whole hour")
        return moment, whole_day
    raise ValueError(f"{option} {text} is not a date (2025-01-01), an hour (2025-01-01T05:00) or a partition key")


def _graphql(url: str, query: str, variables: dict) -> dict:
    try:
        answer = requests.post(f"{url.rstrip('/')}/graphql", json={"query": query, "variables": variables},
                               timeout=60)
    except requests.ConnectionError as exc:
        raise BackfillError(f"no Dagster webserver answers at {url}: start it with `make up`") from exc
    answer.raise_for_status()
    body = answer.json()
    if body.get("errors"):
        raise BackfillError(f"GraphQL errors from {url}: {body['errors']}")
    return body["data"]
