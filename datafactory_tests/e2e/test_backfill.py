"""A partition backfill launched through the GraphQL API of a running webserver, executed by the daemon."""

import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from datafactory_assets.emulator.candles import synthetic_candles
from datafactory_assets.hourly import HOUR, PARTITION_FORMAT
from datafactory_assets.launcher import free_port
from datafactory_assets.warehouse.connection import connect
from datafactory_tests.e2e.platform import Platform, wait_for
from datafactory_tests.helpers import ms, open_hour_lasting

pytestmark = pytest.mark.xdist_group("e2e")

CONFIG = """
[defaults]
timeframe = "1m"
start = "2024-03-01"
[symbols]
"BTC/USDT" = {}
"ETH/USDT" = {}
"BTC/USDT:USDT" = { datasets = ["funding_rates"], sources = ["binance"] }
"""

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
  }
}"""

STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status numPartitions runs(limit: 50) { runId status } }
    ... on PythonError { message }
  }
}"""

DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


@pytest.fixture(scope="module")
def platform(tmp_path_factory, emulator_session):
    with Platform(tmp_path_factory.mktemp("platform"), config_toml=CONFIG,
                  emulator_url=emulator_session.url) as running:
        yield running


def test_graphql_backfill_of_two_symbols_by_24_hours_stores_every_candle_once(platform):
    day = {"start": "2024-03-01-00:00", "end": "2024-03-01-23:00"}
    launched = platform.graphql(LAUNCH, {"params": {"partitionsByAssets": [
        {"assetKey": {"path": ["candles", name]}, "partitions": {"range": day}}
        for name in ("btc_usdt", "eth_usdt")
    ]}})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    deadline = time.monotonic() + 420
    while True:
        backfill = platform.graphql(STATUS, {"id": launched["backfillId"]})["partitionBackfillOrError"]
        if backfill["status"] in DONE or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert backfill["status"] in {"COMPLETED", "COMPLETED_SUCCESS"}, (backfill, platform.log("daemon")[-4000:])
    runs = backfill["runs"]
    assert runs and all(r["status"] == "SUCCESS" for r in runs)
    assert len(runs) <= 2, "multi_run backfill policy: one run per asset for 24 partitions"
    start = datetime(2024, 3, 1, tzinfo=UTC)
    conn = duckdb.connect(str(platform.warehouse_path), read_only=True)
    for symbol in ("BTC/USDT", "ETH/USDT"):
        rows = conn.execute(
            "SELECT epoch_ms(ts), close, count(*) OVER (PARTITION BY ts) FROM candles WHERE symbol = ? "
            "AND ts >= ? AND ts < ? ORDER BY ts", [symbol, start.replace(tzinfo=None),
                                                   (start + timedelta(days=1)).replace(tzinfo=None)]).fetchall()
        want = synthetic_candles(symbol, ms(start), ms(start + timedelta(days=1)))
        assert [r[0] for r in rows] == want["open_ms"].to_list()
        assert [r[1] for r in rows] == want["close"].to_list()
        assert {r[2] for r in rows} == {1}
    conn.close()


LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""

RUN = "query Run($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"


def test_runs_launched_together_fetch_at_the_same_time_and_store_once(platform, emulator_session):
    """Binance answers a symbol's candles only once the other symbol's were asked for too (barrier fault): runs whose
    fetches were serialized (a pool, a writer limit) would get 503s instead, however fast the machine."""
    week = [{"key": "dagster/asset_partition_range_start", "value": "2024-04-10-00:00"},
            {"key": "dagster/asset_partition_range_end", "value": "2024-04-16-23:00"}]
    emulator_session.clear_request_log()
    emulator_session.add_fault("binance:barrier:BTCUSDT,ETHUSDT")
    try:
        run_ids = []
        for name in ("btc_usdt", "eth_usdt"):
            launched = platform.graphql(LAUNCH_RUN, {"params": {
                "selector": {"repositoryLocationName": "datafactory", "repositoryName": "__repository__",
                             "jobName": "__ASSET_JOB", "assetSelection": [{"path": ["candles", name]}]},
                "executionMetadata": {"tags": week},
            }})["launchRun"]
            assert launched["__typename"] == "LaunchRunSuccess", launched
            run_ids.append(launched["run"]["runId"])
        deadline = time.monotonic() + 300
        while True:
            runs = [platform.graphql(RUN, {"id": run_id})["runOrError"] for run_id in run_ids]
            if all(r["status"] in {"SUCCESS", "FAILURE", "CANCELED"} for r in runs) or time.monotonic() > deadline:
                break
            time.sleep(2)
    finally:
        emulator_session.clear_faults()
    assert [r["status"] for r in runs] == ["SUCCESS", "SUCCESS"], platform.log("daemon")[-3000:]
    held = {(r["query"]["symbol"], r["status"]) for r in emulator_session.request_log() if r["fault"]}
    assert held == {("BTCUSDT", 200), ("ETHUSDT", 200)}, "every request answered, none after a lone wait"
    start = datetime(2024, 4, 10, tzinfo=UTC)
    conn = duckdb.connect(str(platform.warehouse_path), read_only=True)
    for symbol in ("BTC/USDT", "ETH/USDT"):
        assert conn.execute("SELECT count(*), count(DISTINCT ts) FROM candles WHERE symbol = ? AND ts >= ? AND "
                            "ts < ?", [symbol, start.replace(tzinfo=None),
                                       (start + timedelta(days=7)).replace(tzinfo=None)]).fetchone() == (
            7 * 1440, 7 * 1440)
    conn.close()


BACKFILL_RUNS = """
query Runs($id: String!) { runsOrError(filter: {tags: [{key: "datafactory/backfill", value: $id}]}) {
  ... on Runs { results { status tags { key value } } } } }"""


def datafactory_backfill(platform, *args: str, url: str | None = None,
                         symbol: str = "ETH/USDT") -> tuple[str, list[dict]]:
    """Run `datafactory backfill` on `symbol` over 2024-03-05..06 in a pipe; its output and the partition range of
    each run of the backfill it launched (none when it launched nothing)."""
    result = subprocess.run(
        [Path(sys.executable).parent / "datafactory", "backfill", "--from", "2024-03-05", "--to", "2024-03-06",
         "--symbol", symbol, "--url", url or platform.url, *args],
        env=platform.env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stdout + result.stderr
    ids = re.findall(r"^backfill (\S+): ", result.stdout, re.MULTILINE)
    runs = [run for backfill_id in ids for run in platform.graphql(BACKFILL_RUNS, {"id": backfill_id})[
        "runsOrError"]["results"]]
    assert all(run["status"] == "SUCCESS" for run in runs), (result.stdout, runs)
    tags = [{t["key"]: t["value"] for t in run["tags"]} for run in runs]
    return result.stdout, sorted((t["dagster/asset_partition_range_start"], t["dagster/asset_partition_range_end"])
                                 for t in tags)


def test_datafactory_backfill_asks_only_for_the_hours_the_warehouse_lacks(platform):
    first, runs = datafactory_backfill(platform, "--wait", "--timeout", "300")
    assert "48 of 48 hour(s) to fetch, 2024-03-05 00:00 .. 2024-03-06 23:00 UTC; 0 already stored complete" in first
    assert runs == [("2024-03-05-00:00", "2024-03-06-23:00")], "multi_run policy: one run for 48 partitions"
    assert "succeeded: 1 run(s), 0 not successful" in first
    assert "ETH/USDT: 48 of 48 hour(s) complete, 2,880 candle(s) stored in" in first
    assert "48/48 h (100%)" in first and "ETA done; runs: 1 of 1 finished" in first
    with connect(platform.warehouse_path) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT ts) FROM candles WHERE symbol = 'ETH/USDT' AND ts >= "
                            "'2024-03-05' AND ts < '2024-03-07'").fetchall() == [(2880, 2880)]

    nothing_to_do, runs = datafactory_backfill(platform, url=f"http://127.0.0.1:{free_port()}")  # nobody listens
    assert nothing_to_do.strip() == ("nothing to backfill: all 48 hour(s) of 1 symbol(s), 2024-03-05 00:00 .. "
                                     "2024-03-06 23:00 UTC, are stored complete (--refetch fetches them again)")
    assert runs == []

    with connect(platform.warehouse_path) as conn:
        conn.execute("DELETE FROM candles WHERE symbol = 'ETH/USDT' AND (ts >= '2024-03-05 03:00' AND ts < "
                     "'2024-03-05 04:00' OR ts = '2024-03-06 10:59')")
    healed, runs = datafactory_backfill(platform, "--wait", "--timeout", "300")
    assert "2 of 48 hour(s) to fetch" in healed and "2 run(s) of up to 1 hour(s) queued (binance)" in healed
    assert runs == [("2024-03-05-03:00", "2024-03-05-03:00"), ("2024-03-06-10:00", "2024-03-06-10:00")]
    assert "ETH/USDT: 2 of 2 hour(s) complete, 61 candle(s) stored in" in healed

    _, runs = datafactory_backfill(platform, "--refetch", "--wait", "--timeout", "300")
    assert runs == [("2024-03-05-00:00", "2024-03-06-23:00")]

    offline = subprocess.run(  # planned from the offline warehouse, launched at the real platform: refused
        [Path(sys.executable).parent / "datafactory", "--offline", "backfill", "--from", "2024-03-05", "--to",
         "2024-03-06", "--symbol", "ETH/USDT", "--refetch", "--url", platform.url], env=platform.env,
        capture_output=True, text=True, timeout=400)
    assert offline.returncode == 1 and offline.stderr.splitlines()[-1] == (
        f"Error: the webserver at {platform.url} serves code location datafactory, not datafactory-offline, whose "
        "warehouse this backfill was planned from: point --url at the platform of the same mode, or add or drop "
        "`datafactory --offline`")
    with connect(platform.warehouse_path, read_only=True) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT ts) FROM candles WHERE symbol = 'ETH/USDT' AND ts >= "
                            "'2024-03-05' AND ts < '2024-03-07'").fetchall() == [(2880, 2880)]


def test_datafactory_backfill_fetches_a_perpetuals_funding_and_follows_it_in_hours_and_events(platform):
    """Before, funding rates were left out of a backfill: this one said "nothing to backfill" and fetched none."""
    from datafactory_assets.emulator.perp_series import funding_events

    first, runs = datafactory_backfill(platform, "--wait", "--timeout", "300", symbol="BTC/USDT:USDT")
    assert "48 of 48 hour(s) to fetch, 2024-03-05 00:00 .. 2024-03-06 23:00 UTC; 0 already stored complete" in first
    assert "funding events: an hour counts as stored once every event due in it" in first
    assert runs == [("2024-03-05-00:00", "2024-03-06-23:00")]
    start, end = datetime(2024, 3, 5, tzinfo=UTC), datetime(2024, 3, 7, tzinfo=UTC)
    want = funding_events("BTC/USDT:USDT", ms(start), ms(end))["open_ms"].to_list()
    with connect(platform.warehouse_path, read_only=True) as conn:
        stored = [t for (t,) in conn.execute("SELECT epoch_ms(ts) FROM funding_rates WHERE symbol = 'BTC/USDT:USDT' "
                                             "AND ts >= ? AND ts < ? ORDER BY ts",
                                             [start.replace(tzinfo=None), end.replace(tzinfo=None)]).fetchall()]
    assert stored == want and len(want) >= 6
    assert "BTC/USDT:USDT: 48 of 48 hour(s) complete, " in first and " funding event(s) stored in " in first
    assert f"48/48 h (100%), {len(stored)} funding events stored, " in first and "ETA done; runs: 1 of 1" in first
    again, runs = datafactory_backfill(platform, url=f"http://127.0.0.1:{free_port()}", symbol="BTC/USDT:USDT")
    assert again.strip().startswith("nothing to backfill: all 48 hour(s) of 1 symbol(s)") and runs == []


RUN_FAILURE = """
query Run($id: ID!) { runOrError(runId: $id) { ... on Run { status eventConnection { events {
  __typename ... on ExecutionStepFailureEvent { error { message } } } } } } }"""


def test_a_run_launched_over_a_range_reaching_the_still_open_hour_is_refused(platform):
    """As the UI's launchpad or a GraphQL client launches it: range tags ending at the still-open hour, which the
    partitions definition does not hold and Dagster does not check."""
    opened = open_hour_lasting(180)
    first, last = opened - 3 * HOUR, opened
    launched = platform.graphql(LAUNCH_RUN, {"params": {
        "selector": {"repositoryLocationName": "datafactory", "repositoryName": "__repository__",
                     "jobName": "__ASSET_JOB", "assetSelection": [{"path": ["candles", "btc_usdt"]}]},
        "executionMetadata": {"tags": [
            {"key": "dagster/asset_partition_range_start", "value": f"{first:{PARTITION_FORMAT}}"},
            {"key": "dagster/asset_partition_range_end", "value": f"{last:{PARTITION_FORMAT}}"}]},
    }})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run = wait_for(lambda: (r := platform.graphql(RUN_FAILURE, {"id": launched["run"]["runId"]})["runOrError"])[
        "status"] in {"SUCCESS", "FAILURE", "CANCELED"} and r, timeout_s=150, what="the run finished")
    assert run["status"] == "FAILURE"
    (message,) = [e["error"]["message"] for e in run["eventConnection"]["events"]
                  if e["__typename"] == "ExecutionStepFailureEvent"]
    assert (f"refused: partitions {first:{PARTITION_FORMAT}} .. {last:{PARTITION_FORMAT}} reach the still-open hour "
            f"{opened:{PARTITION_FORMAT}} UTC") in message
    if not platform.warehouse_path.exists():
        return  # run alone: nothing was ever written
    with connect(platform.warehouse_path, read_only=True) as conn:
        # the hourly schedule may store the last closed hour meanwhile: the two before it stay untouched
        assert conn.execute("SELECT count(*) FROM candles WHERE symbol = 'BTC/USDT' AND ts >= ? AND (ts < ? OR "
                            "ts >= ?)", [first.replace(tzinfo=None), (opened - HOUR).replace(tzinfo=None),
                                         opened.replace(tzinfo=None)]).fetchone() == (0,)
