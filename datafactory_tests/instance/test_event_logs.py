"""Each profile's event log: a range run's materializations are written as one batch, and Dagster reads
them back as it reads its own (per-partition records, materialized partitions, the asset's latest event); a check
over the whole run is planned once and completed by its result."""

import dagster as dg
import pytest

from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from datafactory_assets.instance.environment import DAGSTER_ENV
from datafactory_assets.instance.profiles import write_instance_config
from datafactory_assets.instance.event_logs import (OPEN_RUN_FILES, BatchingSqliteEventLogStorage,
                                                    CheckPlannedOncePostgresEventLogStorage)
from datafactory_tests.instance.range_runs import HOURS, hourly, materialize, materialize_in_a_fork


@pytest.fixture
def single_writes(instance, monkeypatch) -> list[str]:
    """Partitions whose materialization went through the storage's one-event-at-a-time `store_event`."""
    written: list[str] = []
    storage = type(instance.event_log_storage)
    original = storage.store_event

    def store_event(self, event):
        if event.dagster_event and event.dagster_event.is_step_materialization:
            written.append(event.dagster_event.partition)
        original(self, event)

    monkeypatch.setattr(storage, "store_event", store_event)
    return written


def test_a_range_run_is_stored_in_one_batch_and_read_back_per_partition(instance, single_writes):
    keys = HOURS.get_partition_keys_in_range(dg.PartitionKeyRange("2024-03-01-00:00", "2024-03-03-23:00"))

    result = materialize(instance, keys[0], keys[-1])

    assert isinstance(instance.event_log_storage,
                      (BatchingSqliteEventLogStorage, CheckPlannedOncePostgresEventLogStorage))
    assert single_writes == []
    assert instance.get_materialized_partitions(hourly.key) == set(keys)
    records = instance.fetch_materializations(hourly.key, limit=1000).records
    assert sorted(r.partition_key for r in records) == keys
    assert {r.partition_key: r.asset_materialization.metadata["own"].value for r in records} == {k: k for k in keys}
    assert {r.run_id for r in records} == {result.run_id}
    latest = instance.get_latest_materialization_event(hourly.key)
    assert latest.dagster_event.partition == keys[-1]
    run_log = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    assert [e.dagster_event.partition for e in run_log] == keys


def test_a_batch_larger_than_one_insert_keeps_every_partition_in_order(instance, single_writes):
    keys = HOURS.get_partition_keys()[:1007]  # SQLAlchemy sends at most 1,000 rows per INSERT of an executemany

    materialize(instance, keys[0], keys[-1])

    assert single_writes == []
    assert instance.get_materialized_partitions(hourly.key) == set(keys)
    records = instance.fetch_materializations(hourly.key, limit=2000, ascending=True).records
    assert [r.partition_key for r in records] == keys
    assert instance.get_latest_materialization_event(hourly.key).dagster_event.partition == keys[-1]


def test_a_check_over_the_whole_run_is_planned_once_and_completed_by_its_result(instance):
    result = materialize(instance, "2024-03-01-00:00", "2024-03-01-23:00")

    history = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(hourly.key, "whole_run"), limit=100)
    assert [(r.run_id, r.partition, r.status) for r in history] == [
        (result.run_id, None, AssetCheckExecutionRecordStatus.SUCCEEDED)]


@pytest.fixture
def embedded(tmp_path, monkeypatch):
    """The shipped embedded instance, in a temporary DAGSTER_HOME."""
    for name, value in {"DAGSTER_HOME": str(tmp_path), **DAGSTER_ENV}.items():
        monkeypatch.setenv(name, value)
    write_instance_config(tmp_path, "embedded")
    with dg.DagsterInstance.from_config(str(tmp_path)) as shipped:
        yield shipped


def test_the_embedded_event_log_keeps_the_index_and_the_last_run_files_open_not_every_one(embedded):
    run_ids = [materialize(embedded, f"2024-03-01-{h:02d}:00", f"2024-03-01-{h:02d}:00").run_id for h in range(10)]

    assert set(embedded.event_log_storage._engines) == {"index", *run_ids[-OPEN_RUN_FILES:]}
    assert [len(embedded.all_logs(run_id)) > 0 for run_id in run_ids] == [True] * 10  # closed files reopen
    assert embedded.get_materialized_partitions(hourly.key) == {f"2024-03-01-{h:02d}:00" for h in range(10)}


def test_the_embedded_event_log_asks_sqlite_for_each_table_once_not_per_event(embedded, monkeypatch):
    """Dagster's SQLite `has_table` opens the index file for every answer, asked per check evaluation and batch."""
    asked: list[str] = []
    original = SqliteEventLogStorage.has_table

    def has_table(self, table_name):
        asked.append(table_name)
        return original(self, table_name)

    monkeypatch.setattr(SqliteEventLogStorage, "has_table", has_table)
    run_ids = [materialize(embedded, f"2024-03-01-{h:02d}:00", f"2024-03-01-{h + 1:02d}:00").run_id for h in (0, 2, 4)]

    assert asked and len(asked) == len(set(asked))
    check = dg.AssetCheckKey(hourly.key, "whole_run")
    records = embedded.event_log_storage.get_asset_check_execution_history(check, limit=10)
    assert {r.run_id for r in records if r.status == AssetCheckExecutionRecordStatus.SUCCEEDED} == set(run_ids)


def test_the_embedded_event_log_writes_after_a_wipe_and_from_a_forked_process(embedded):
    materialize(embedded, "2024-03-01-00:00", "2024-03-01-02:00")
    embedded.wipe()
    assert embedded.get_materialized_partitions(hourly.key) == set()

    assert materialize_in_a_fork(embedded, "2024-03-01-03:00", "2024-03-01-05:00") == 0
    materialize(embedded, "2024-03-01-06:00", "2024-03-01-06:00")
    assert embedded.get_materialized_partitions(hourly.key) == {f"2024-03-01-{h:02d}:00" for h in range(3, 7)}


def test_the_embedded_event_log_commits_without_waiting_for_the_disk_on_its_wal_files(embedded):
    run_id = materialize(embedded, "2024-03-01-00:00", "2024-03-01-01:00").run_id

    for shard in ("index", run_id):
        with embedded.event_log_storage._connect(shard) as conn:
            modes = (conn.exec_driver_sql("PRAGMA journal_mode").scalar(),
                     conn.exec_driver_sql("PRAGMA synchronous").scalar())
        assert modes == ("wal", 1)  # 1: NORMAL (SQLite's default, FULL, is 2)
