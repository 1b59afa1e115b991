"""Backfills of the hours the warehouse lacks: range runs launched through a running webserver's GraphQL API.

The warehouse, not Dagster's partition status, says what is stored: a backfill asks only for the hours it does not
hold complete, each run of adjacent missing hours as its own range, cut into spans that symbols needing the same
hours share, so that the backfill is a few large runs (see `range_runs`). The runs are launched directly, as the
healing sensor launches its own, rather than as a Dagster asset backfill: the backfill daemon looks at new backfills
every 30 seconds and marks them done on a later pass, which added about a minute to every backfill, while a launched
run is queued at once. The runs share a `datafactory/backfill` tag, which the CLI follows and the UI's run list
filters by. (`dagster job backfill` would launch one run per partition: 8,760 runs for a year of one symbol.)
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import duckdb
import requests

from datafactory_assets import progress
from datafactory_assets.hourly import HOUR, PARTITION_FORMAT, open_hour
from datafactory_assets.automation.run_tags import by_primary_source, candle_run_tags
from datafactory_assets.series import Series, by_dataset, incomplete_ranges, series_of
from datafactory_assets.settings import Settings, SymbolSettings

ASSET_PARTITION_RANGE_START = "dagster/asset_partition_range_start"  # Dagster's range tags, spelled as its own
ASSET_PARTITION_RANGE_END = "dagster/asset_partition_range_end"  # constants do (which import all of Dagster)
HourRange = tuple[datetime, datetime]  # first and last hour start, both inclusive, UTC
RUN_DONE = {"SUCCESS", "FAILURE", "CANCELED"}
BACKFILL_TAG = "datafactory/backfill"
# How the CLI sizes its runs. Every run pays a process start (Python, Dagster, ccxt and the code location: about 2 s
# of CPU, half of a 2,880-partition run's CPU in a profile) and each of its assets' steps runs after the other, so a
# backfill is best as many runs as the queue runs at once (the embedded instance's four), each as large as allowed.
RUN_SLOTS = 4
RUN_PARTITIONS_MIN = 2_880  # a smaller backfill is one run of this size at most, not four small ones
RUN_PARTITIONS = 8_760  # partitions of all its assets one run holds at most: what one failure leaves to retry
SPAN_HOURS = 2_190  # hours one step fetches and writes at most (about 3 months, 131,400 1m candles in memory),
# unless `partitions_per_run` asks for longer

_LOCATE = """
query Locate($keys: [AssetKeyInput!]) {
  assetNodes(assetKeys: $keys) { repository { name location { name } } }
}"""

_LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
  }
}"""

_RUNS = """
query Runs($filter: RunsFilter!) {
  runsOrError(filter: $filter) { __typename ... on Runs { results { runId status } } ... on Error { message } }
}"""


@dataclass(frozen=True)
class RangeRun:
    """One run to launch: a range of hours of assets (`candles/btc_usdt`, `perp_candles/btc_usdt`) whose symbols
    start their chain at one source."""

    source: str
    first: datetime
    last: datetime
    assets: tuple[str, ...]

    @property
    def hours(self) -> int:
        return (self.last - self.first) // HOUR + 1


class BackfillError(RuntimeError):
    """The webserver refused or could not run the backfill."""


def partition_range(first: str, last: str, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    """Parse inclusive hour bounds: `2025-01-01` (a day: its first hour, or for `last` its last hour),
    `2025-01-01T05:00` or a partition key `2025-01-01-05:00`. The last hour must have finished."""
    start, _ = _hour(first, "--from")
    end, whole_day = _hour(last, "--to")
    if whole_day:
        end += timedelta(hours=23)
    latest = open_hour(now) - HOUR
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


def whole_window(symbols: list[SymbolSettings], start: datetime, end: datetime) -> dict[Series, list[HourRange]]:
    """Every hour of [start, end] for every dataset of every symbol (`series.series_of`): what `--refetch`, or a
    warehouse not created yet, asks for."""
    return {s: [(start, end)] for s in series_of(symbols)}


def missing_ranges(conn: duckdb.DuckDBPyConnection, symbols: list[SymbolSettings], start: datetime,
                   end: datetime) -> dict[Series, list[HourRange]]:
    """Per dataset of each symbol, the runs of hours in [start, end] the warehouse does not hold complete (confirmed
    holes count as held; for funding, hours holding a due event not stored, and the span before the first stored
    one: `series.incomplete_ranges`), oldest first: all a backfill needs to ask for, in one query per dataset for every
    symbol."""
    plan: dict[Series, list[HourRange]] = {}
    for members in by_dataset(series_of(symbols)).values():
        incomplete = incomplete_ranges(conn, members, starts=[start] * len(members), until=end + HOUR)
        plan.update({s: [(first.replace(tzinfo=UTC), stop.replace(tzinfo=UTC) - HOUR)
                         for first, stop in incomplete[s.symbol]] for s in members})
    return {s: plan[s] for s in series_of(symbols)}


def range_runs(plan: Mapping[Series, Sequence[HourRange]], *, partitions_per_run: int) -> list[RangeRun]:
    """The runs that fetch `plan`, per primary source: about `RUN_SLOTS` runs of equal size, each between
    `RUN_PARTITIONS_MIN` and `RUN_PARTITIONS` partitions (more runs when the plan is larger). Each range is cut into
    spans long enough for its symbols to fill such a run together (at least `partitions_per_run` hours, at most
    `SPAN_HOURS` unless `partitions_per_run` is longer), and symbols that need the same span share its runs: a year of
    four symbols is four runs of 2,190 hours of all four, a week of 200 symbols four runs of 50 symbols each."""
    runs = []
    for source, symbols in by_primary_source(plan).items():
        asked = sum(progress.hour_count(plan[symbol]) for symbol in symbols)
        size = min(max(-(-asked // RUN_SLOTS), RUN_PARTITIONS_MIN), RUN_PARTITIONS)
        span_hours = max(min(size // len(symbols), SPAN_HOURS), partitions_per_run)
        spans: dict[HourRange, list[str]] = defaultdict(list)
        for symbol in symbols:
            for first, last in plan[symbol]:
                while first <= last:
                    cut = min(first + (span_hours - 1) * HOUR, last)
                    spans[(first, cut)].append("/".join(symbol.asset_path))
                    first = cut + HOUR
        for (first, last), assets in sorted(spans.items()):
            per_run = max(size // ((last - first) // HOUR + 1), 1)
            runs.extend(RangeRun(source, first, last, tuple(assets[i:i + per_run]))
                        for i in range(0, len(assets), per_run))
    return runs


def launch_runs(url: str, runs: Sequence[RangeRun], *, backfill_id: str, location: str = "datafactory") -> list[str]:
    """Queue every run on the webserver's instance, tagged with its source and `backfill_id`; their run ids.

    The launches go out side by side (the webserver answers GraphQL in a thread pool): each takes about a second or
    two, mostly the webserver asking the code location for the run's plan, and one after another they delayed a
    backfill's last run by seconds. When the webserver refuses one run, the error names it; runs launched beside it
    stay queued, as those launched before it did when the launches went one after another.

    The runs were planned from one mode's warehouse (modes.py), so the webserver must serve that mode's code location
    (`location`): the offline platform's runs would otherwise fill the emulator's warehouse with what the real one
    lacks, or the other way round."""
    nodes = _graphql(url, _LOCATE, {"keys": [{"path": runs[0].assets[0].split("/")}]})["assetNodes"]
    if not nodes:
        raise BackfillError(f"the webserver at {url} has no asset {runs[0].assets[0]}: is it running this "
                            "configuration?")
    repository = nodes[0]["repository"]
    if repository["location"]["name"] != location:
        raise BackfillError(f"the webserver at {url} serves code location {repository['location']['name']}, not "
                            f"{location}, whose warehouse this backfill was planned from: point --url at the "
                            "platform of the same mode, or add or drop `datafactory --offline`")
    with ThreadPoolExecutor(max_workers=min(len(runs), RUN_SLOTS)) as pool:
        return list(pool.map(lambda run: _launch(url, repository, run, backfill_id=backfill_id), runs))


def _launch(url: str, repository: dict, run: RangeRun, *, backfill_id: str) -> str:
    """Queue one run; its run id."""
    tags = {**candle_run_tags(run.source), BACKFILL_TAG: backfill_id,
            ASSET_PARTITION_RANGE_START: f"{run.first:{PARTITION_FORMAT}}",
            ASSET_PARTITION_RANGE_END: f"{run.last:{PARTITION_FORMAT}}"}
    result = _graphql(url, _LAUNCH, {"params": {
        "selector": {"repositoryLocationName": repository["location"]["name"],
                     "repositoryName": repository["name"], "jobName": "__ASSET_JOB",
                     "assetSelection": [{"path": key.split("/")} for key in run.assets]},
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
    }})["launchRun"]
    if result["__typename"] != "LaunchRunSuccess":
        raise BackfillError(f"run of {', '.join(run.assets)} {run.first:{PARTITION_FORMAT}} .. "
                            f"{run.last:{PARTITION_FORMAT}} refused ({result['__typename']}): "
                            f"{result.get('message')}")
    return result["run"]["runId"]


def backfill_runs(url: str, backfill_id: str) -> list[dict]:
    """The backfill's runs, each with its `runId` and `status`, as the webserver sees them now."""
    runs = _graphql(url, _RUNS, {"filter": {"tags": [{"key": BACKFILL_TAG, "value": backfill_id}]}})["runsOrError"]
    if runs["__typename"] != "Runs":
        raise BackfillError(f"backfill {backfill_id}: {runs.get('message')}")
    return runs["results"]


def new_backfill_id() -> str:
    """A short id, unique enough to tell one backfill's runs from another's."""
    return uuid.uuid4().hex[:8]


def runs_url(url: str, backfill_id: str) -> str:
    """The UI's run list filtered to one backfill's runs."""
    return f"{url.rstrip('/')}/runs?" + urlencode({"q[]": f"tag:{BACKFILL_TAG}={backfill_id}"})


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
