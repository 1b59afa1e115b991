"""What the UI shows of a range run with the shipped instance settings (one planned event per run, batched writes,
thin per-partition metadata), read through the webserver's GraphQL like the asset page reads it: a failed range run
leaves its partitions failed and the healing plan still asks for them; a successful one leaves every partition
materialized, each with its own numbers, after one planned event."""

from datetime import UTC, datetime, timedelta

import pytest

from datafactory_assets.hourly import PARTITION_FORMAT
from datafactory_assets.automation.healing_plan import HealingMemory, plan_tick
from datafactory_assets.settings import HealingSettings
from datafactory_assets.warehouse import WarehouseResource, queries
from datafactory_tests.e2e.platform import Platform, btc_config

pytestmark = pytest.mark.xdist_group("e2e")

START = datetime(2024, 3, 1, tzinfo=UTC)
HOURS = 24
FIRST, LAST = START.strftime(PARTITION_FORMAT), (START + timedelta(hours=HOURS - 1)).strftime(PARTITION_FORMAT)
CONFIG = btc_config(START, resilience="""
retry_attempts = 1
""")

STATUS = """
query Status($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
  partitionStats { numMaterialized numFailed numMaterializing }
  assetPartitionStatuses { ... on TimePartitionStatuses { ranges { status startKey endKey } } }
  assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { status } } } } } } }"""
LATEST_RUN = "{ runsOrError(limit: 1) { ... on Runs { results { runId status } } } }"
RUN_EVENTS = """
query Events($id: ID!) { logsForRun(runId: $id, limit: 10000) { ... on EventConnection { events {
  __typename ... on MaterializationEvent { partition metadataEntries { label } } } } } }"""
KEY = {"path": ["candles", "btc_usdt"]}


@pytest.fixture
def platform(tmp_path, emulator):
    with Platform(tmp_path, config_toml=CONFIG, emulator_url=emulator.url) as running:
        yield running


def asset_status(platform: Platform) -> dict:
    return platform.graphql(STATUS, {"key": KEY})["assetNodeOrError"]


def test_a_failed_range_run_leaves_its_partitions_failed_and_healing_asks_for_them(platform, emulator):
    emulator.add_fault("binance:status:503")  # the one source of the chain is down for the whole window

    assert platform.materialize(["btc_usdt"], first=FIRST, last=LAST) == "FAILURE"

    status = asset_status(platform)
    assert status["partitionStats"] == {"numMaterialized": 0, "numFailed": HOURS, "numMaterializing": 0}
    assert status["assetPartitionStatuses"]["ranges"] == [{"status": "FAILED", "startKey": FIRST, "endKey": LAST}]
    with WarehouseResource(path=str(platform.warehouse_path)).connect(read_only=True) as conn:
        incomplete = queries.incomplete_ranges(conn, [("BTC/USDT", START, 60)], until=START + timedelta(hours=HOURS))
    plan = plan_tick(incomplete, in_flight=set(), memory=HealingMemory(), now=0.0, settings=HealingSettings(),
                     partitions_per_run=HOURS)
    assert [(run.symbol, run.partition_keys[0], run.partition_keys[-1]) for run in plan.runs] == [
        ("BTC/USDT", FIRST, LAST)]


def test_a_successful_range_run_marks_every_partition_after_one_planned_event(platform):
    assert platform.materialize(["btc_usdt"], first=FIRST, last=LAST) == "SUCCESS"

    status = asset_status(platform)
    assert status["partitionStats"] == {"numMaterialized": HOURS, "numFailed": 0, "numMaterializing": 0}
    assert status["assetPartitionStatuses"]["ranges"] == [
        {"status": "MATERIALIZED", "startKey": FIRST, "endKey": LAST}]
    checks = {c["name"]: c["executionForLatestMaterialization"]["status"]
              for c in status["assetChecksOrError"]["checks"]}
    assert checks["validation"] == checks["gaps"] == "SUCCEEDED" and "IN_PROGRESS" not in checks.values(), checks
    run = platform.graphql(LATEST_RUN)["runsOrError"]["results"][0]
    events = platform.graphql(RUN_EVENTS, {"id": run["runId"]})["logsForRun"]["events"]
    kinds = [e["__typename"] for e in events]
    assert kinds.count("AssetMaterializationPlannedEvent") == 1
    materialized = {e["partition"]: {m["label"] for m in e["metadataEntries"]}
                    for e in events if e["__typename"] == "MaterializationEvent"}
    assert len(materialized) == HOURS
    own = {"rows", "expected_rows", "missing_minutes"}
    assert all(labels == own for key, labels in materialized.items() if key != LAST)
    assert own < materialized[LAST] and {"source", "requests", "window", "run_rows"} <= materialized[LAST]
