"""Asset partition backfills launched through a running webserver's GraphQL API.

An asset backfill lets Dagster apply each asset's `BackfillPolicy` (a month of hourly partitions per run), whereas
`dagster job backfill` launches one run per partition: 8,760 runs for a year of one symbol.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import requests

from datafactory_assets.assets import PARTITION_FORMAT
from datafactory_assets.automation.run_tags import by_primary_source
from datafactory_assets.settings import Settings

DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

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


def asset_ranges(settings: Settings, symbols: list[str], start: datetime, end: datetime) -> list[dict]:
    """`partitionsByAssets` for the named symbols (all configured ones when none are named)."""
    configured = {s.symbol: s for s in settings.symbols}
    unknown = [s for s in symbols if s not in configured]
    if unknown:
        raise ValueError(f"symbols {unknown} are not in {settings.config_path}; configured: {sorted(configured)}")
    selected = [configured[s] for s in symbols] or list(settings.symbols)
    early = [s.symbol for s in selected if start < s.start]
    if early:
        raise ValueError(f"--from {start:{PARTITION_FORMAT}} is before the first partition of {early}")
    window = {"start": f"{start:{PARTITION_FORMAT}}", "end": f"{end:{PARTITION_FORMAT}}"}
    return [{"assetKey": {"path": ["candles", s.asset_name]}, "partitions": {"range": window}} for s in selected]


def source_backfills(settings: Settings, symbols: list[str], start: datetime, end: datetime) -> dict[str, list[dict]]:
    """`asset_ranges` split by the symbols' primary source: one backfill each, so its runs carry one source tag."""
    ranges = {tuple(r["assetKey"]["path"]): r for r in asset_ranges(settings, symbols, start, end)}
    groups = {source: [ranges[key] for s in group if (key := ("candles", s.asset_name)) in ranges]
              for source, group in by_primary_source(settings.symbols).items()}
    return {source: group for source, group in groups.items() if group}


def launch_backfill(url: str, partitions_by_assets: list[dict], *, title: str | None = None,
                    tags: dict[str, str] | None = None) -> str:
    """Submit the backfill and return its id; its runs carry `tags`."""
    params = {"partitionsByAssets": partitions_by_assets, **({"title": title} if title else {}),
              "tags": [{"key": key, "value": value} for key, value in (tags or {}).items()]}
    result = _graphql(url, _LAUNCH, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise BackfillError(f"backfill refused ({result['__typename']}): {result.get('message')}")
    return result["backfillId"]


def wait_for_backfill(url: str, backfill_id: str, *, timeout_s: float, poll_s: float = 2.0) -> dict:
    """Poll until the backfill has finished, and return its status, partition count and runs."""
    deadline = time.monotonic() + timeout_s
    while True:
        backfill = _graphql(url, _STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        if backfill["__typename"] != "PartitionBackfill":
            raise BackfillError(f"backfill {backfill_id}: {backfill.get('message')}")
        if backfill["status"] in DONE:
            return backfill
        if time.monotonic() > deadline:
            raise TimeoutError(f"backfill {backfill_id} still {backfill['status']} after {timeout_s:.0f}s")
        time.sleep(poll_s)


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
