"""On each profile's shipped instance (one planned event per run), a range run that fails leaves every partition it
covered failed in the status the UI reads (Dagster's asset status cache), and a later success clears them."""

import dagster as dg
from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

from datafactory_assets.instance.failed_partitions import report_failed_partitions
from datafactory_tests.instance.range_runs import HOURS

FIRST, LAST = "2024-03-01-00:00", "2024-03-01-05:00"
KEYS = HOURS.get_partition_keys_in_range(dg.PartitionKeyRange(FIRST, LAST))
fail = {"now": True}


@dg.asset(partitions_def=HOURS)
def flaky(context: dg.AssetExecutionContext):
    if fail["now"]:
        report_failed_partitions(context)
        raise dg.Failure("no source served the window")
    return dg.MaterializeResult()


def run(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return dg.materialize([flaky], instance=instance, raise_on_error=False, tags={
        "dagster/asset_partition_range_start": FIRST, "dagster/asset_partition_range_end": LAST})


def status(instance: dg.DagsterInstance) -> tuple[list[str], list[str]]:
    """Failed and materialized partitions, as the asset page reads them."""
    cached = get_and_update_asset_status_cache_value(instance, flaky.key, HOURS)
    return (sorted(cached.deserialize_failed_partition_subsets(HOURS).get_partition_keys()),
            sorted(cached.deserialize_materialized_partition_subsets(HOURS).get_partition_keys()))


def test_a_failed_range_run_leaves_its_partitions_failed_until_they_succeed(instance):
    fail["now"] = True
    assert not run(instance).success
    assert status(instance) == (KEYS, [])

    fail["now"] = False
    assert run(instance).success
    assert status(instance) == ([], KEYS)
