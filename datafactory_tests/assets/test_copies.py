"""A copied asset is the asset `@dg.asset` builds from the same arguments, to the last field the UI and the run
workers read (the code location's snapshot, as the webserver receives it)."""

import json
from datetime import datetime, timedelta

import dagster as dg
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value

from datafactory_assets.assets.copies import copied
from datafactory_assets.assets.presigned import presigned
from datafactory_assets.checks import check_specs
from datafactory_assets.datasets import SPOT_CANDLES
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse import WarehouseResource

HOURLY = dg.HourlyPartitionsDefinition(start_date="2024-03-01-00:00", end_offset=0)
DAILY = dg.DailyPartitionsDefinition(start_date="2024-03-01", end_offset=0)
FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(minutes=120), warn_window=timedelta(minutes=75))
AUTOMATION = dg.AutomationCondition.eager().without(dg.AutomationCondition.in_latest_time_window())


def _fn(name: str):
    @presigned
    def compute(context: dg.AssetExecutionContext, warehouse: WarehouseResource, sources: SourcesResource):
        yield dg.MaterializeResult(metadata={"name": name})

    return compute


def _candles(name: str, *, partitions: dg.PartitionsDefinition = HOURLY) -> dict:
    key = dg.AssetKey(["candles", name])
    return {"key": key, "group_name": "candles", "partitions_def": partitions, "freshness_policy": FRESHNESS,
            "backfill_policy": dg.BackfillPolicy.multi_run(max_partitions_per_run=720),
            "check_specs": check_specs(key, checks=SPOT_CANDLES.checks), "kinds": {"duckdb", "polars"},
            "metadata": {"symbol": name.upper(), "timeframe": "1m", "sources": "binance, okx"},
            "description": f"1m candles of {name}."}


def _rollup(name: str, *, partitions: dg.PartitionsDefinition = DAILY) -> dict:
    return {"key": dg.AssetKey(["rollups", "1d", name]), "deps": [dg.AssetKey(["candles", name])],
            "group_name": "rollups_1d", "partitions_def": partitions, "kinds": {"duckdb"},
            "automation_condition": AUTOMATION, "description": f"1d bars of {name}.",
            "backfill_policy": dg.BackfillPolicy.multi_run(max_partitions_per_run=30)}


def _snapshot(asset: dg.AssetsDefinition) -> dict:
    defs = dg.Definitions(assets=[asset], resources={"warehouse": WarehouseResource(path="unused.duckdb"),
                                                     "sources": SourcesResource()})
    return json.loads(serialize_value(RepositorySnap.from_def(defs.get_repository_def())))


def _built(arguments: dict, name: str) -> dg.AssetsDefinition:
    return dg.asset(**arguments)(_fn(name))


def _copy(template: dg.AssetsDefinition, arguments: dict, name: str, *, shown: str | None = None
          ) -> dg.AssetsDefinition:
    return copied(template, key=arguments["key"], fn=_fn(name), deps=arguments.get("deps", ()),
                  partitions_def=arguments["partitions_def"], description=arguments["description"],
                  metadata=arguments.get("metadata"), shown=shown)


def test_a_copied_candle_asset_with_its_checks_is_the_one_the_decorator_builds():
    template = _built(_candles("template", partitions=DAILY), "template")
    copy = _copy(template, _candles("eth-usdt.x"), "eth")
    assert _snapshot(copy) == _snapshot(_built(_candles("eth-usdt.x"), "eth"))
    assert [spec.asset_key for spec in copy.check_specs] == [dg.AssetKey(["candles", "eth-usdt.x"])] * 4


def test_a_copied_rollup_with_its_dependency_is_the_one_the_decorator_builds():
    template = _built(_rollup("template", partitions=HOURLY), "template")
    assert _snapshot(_copy(template, _rollup("btc_usdt"), "btc")) == _snapshot(_built(_rollup("btc_usdt"), "btc"))


def test_a_copy_shown_otherwise_is_what_map_asset_specs_makes_of_the_decorator_s():
    template = _built(_rollup("template"), "template")
    mapped = dg.map_asset_specs(lambda spec: spec.replace_attributes(description="offline: 1d bars"),
                                [_built(_rollup("btc_usdt"), "btc")])[0]
    copy = _copy(template, _rollup("btc_usdt"), "btc", shown="offline: 1d bars")
    assert _snapshot(copy) == _snapshot(mapped)
    assert (copy.op.description, copy.specs_by_key[copy.key].description) == ("1d bars of btc_usdt.",
                                                                              "offline: 1d bars")


def test_a_copy_computes_with_its_own_function(tmp_path):
    template = _built(_rollup("template"), "template")
    copy = _copy(template, _rollup("btc_usdt"), "btc")
    result = dg.materialize([copy], partition_key="2024-03-02", selection=[copy.key],
                            resources={"warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
                                       "sources": SourcesResource()})
    materialization = result.asset_materializations_for_node(copy.op.name)[0]
    assert materialization.asset_key == copy.key and materialization.metadata["name"].value == "btc"
    assert datetime.fromisoformat("2024-03-02") == datetime.strptime(materialization.partition, "%Y-%m-%d")
