"""Every event a run writes is stored as the very text Dagster's `serialize_value` gives it: a candle range run against
the emulator and a range run reporting every kind of metadata value, on each profile's shipped instance."""

import math
from datetime import UTC, datetime

import dagster as dg
import pytest
from dagster._core.storage.event_log import SqlEventLogStorage
from dagster._serdes import serialize_value

from datafactory_assets.assets import build_candle_asset
from datafactory_assets.instance.event_serdes import EventPacker
from datafactory_tests.helpers import symbol_settings
from datafactory_tests.instance.range_runs import HOURS

RANGE = {"dagster/asset_partition_range_start": "2024-03-01-00:00",
         "dagster/asset_partition_range_end": "2024-03-01-23:00"}


@pytest.fixture
def stored_rows(instance, monkeypatch) -> list[tuple[dg.EventLogEntry, dict, dict]]:
    """(event, its row, the row Dagster's own `SqlEventLogStorage._event_to_row` builds) for every row the instance's
    event log storage builds."""
    rows = []
    storage = type(instance.event_log_storage)
    build = storage._event_to_row

    def spied(self, event, **kwargs):
        row = build(self, event, **kwargs)
        rows.append((event, row, SqlEventLogStorage._event_to_row(self, event)))
        return row

    monkeypatch.setattr(storage, "_event_to_row", spied)
    return rows


def _assert_stored_as_dagster_serializes(rows) -> None:
    stored = {event.dagster_event.event_type_value if event.dagster_event else "log" for event, _, _ in rows}
    assert {"ASSET_MATERIALIZATION", "ASSET_MATERIALIZATION_PLANNED", "STEP_START", "STEP_SUCCESS",
            "PIPELINE_SUCCESS", "log"} <= stored
    for event, row, dagsters in rows:
        assert row["event"] == serialize_value(event), event.dagster_event_type
        assert row == dagsters


def test_a_candle_range_run_stores_each_event_as_dagster_serializes_it(instance, stored_rows, warehouse, sources):
    asset = build_candle_asset(symbol_settings("BTC/USDT"), partitions_per_run=720)

    result = dg.materialize([asset], instance=instance, tags=RANGE,
                            resources={"warehouse": warehouse, "sources": sources})

    assert result.success
    assert sum(1 for e, _, _ in stored_rows if e.dagster_event and e.dagster_event.is_step_materialization) == 24
    assert any(e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
               for e, _, _ in stored_rows)
    _assert_stored_as_dagster_serializes(stored_rows)


@dg.asset(partitions_def=HOURS)
def every_kind(context: dg.AssetExecutionContext):
    """Each partition reports every kind of metadata value Dagster serializes, some shared by all partitions."""
    shared = dg.MetadataValue.json({"nested": {"b": [1, 2.5, None, True], "a": "é✓"}})
    for index, key in enumerate(context.partition_keys):
        context.add_asset_metadata({
            "own": key, "int": index, "float": index / 3, "nan": math.nan, "bool": index % 2 == 0, "none": None,
            "shared": shared, "md": dg.MetadataValue.md(f"**{key}**"), "url": dg.MetadataValue.url("http://x/y"),
            "path": dg.MetadataValue.path("/tmp/x"), "asset": dg.MetadataValue.asset(dg.AssetKey(["a", key])),
            "when": dg.MetadataValue.timestamp(datetime(2024, 3, 1, tzinfo=UTC)),
            "table": dg.MetadataValue.table([dg.TableRecord({"n": index, "s": "x"})],
                                            schema=dg.TableSchema([dg.TableColumn("n", "int"),
                                                                   dg.TableColumn("s", "string")])),
            "column_lineage": dg.TableColumnLineage({"n": [dg.TableColumnDep(dg.AssetKey("up"), "m")]}),
        }, partition_key=key)
    context.log.info("a line with a tab\tand a quote \"")
    return dg.MaterializeResult(tags={"team": "data"})


def test_a_range_run_with_every_kind_of_metadata_stores_each_event_as_dagster_serializes_it(instance, stored_rows):
    result = dg.materialize([every_kind], instance=instance, tags=RANGE)

    assert result.success
    assert sum(1 for e, _, _ in stored_rows if e.dagster_event and e.dagster_event.is_step_materialization) == 24
    _assert_stored_as_dagster_serializes(stored_rows)


def test_an_object_met_again_in_the_next_event_is_packed_once(monkeypatch):
    key = dg.AssetKey(["candles", "btc_usdt"])
    events = [dg.AssetMaterialization(asset_key=key, partition=hour, metadata={"rows": 60})
              for hour in HOURS.get_partition_keys()[:3]]
    packed = []
    pack_object = EventPacker._pack_object
    monkeypatch.setattr(EventPacker, "_pack_object", lambda self, value, *plan: packed.append(value) or
                        pack_object(self, value, *plan))
    packer = EventPacker()

    texts = [packer.serialize(event) for event in events]

    assert texts == [serialize_value(event) for event in events]
    assert [value for value in packed if value is key] == [key]
    assert [value for value in packed if isinstance(value, dg.AssetMaterialization)] == events
