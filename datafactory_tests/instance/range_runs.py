"""What the instance tests share: an hourly asset whose range run gives each partition its own metadata and runs one
check over the whole run, and ways to run it over a partition range."""

import multiprocessing

import dagster as dg

HOURS = dg.HourlyPartitionsDefinition(start_date="2024-03-01-00:00")


@dg.asset(partitions_def=HOURS, check_specs=[dg.AssetCheckSpec("whole_run", asset="hourly")])
def hourly(context: dg.AssetExecutionContext):
    for key in context.partition_keys:
        context.add_asset_metadata({"own": key}, partition_key=key)
    return dg.MaterializeResult(check_results=[dg.AssetCheckResult(check_name="whole_run", passed=True)])


def materialize(instance: dg.DagsterInstance, first: str, last: str) -> dg.ExecuteInProcessResult:
    """One run of `hourly` over the partitions from `first` to `last`."""
    return dg.materialize([hourly], instance=instance, tags={"dagster/asset_partition_range_start": first,
                                                            "dagster/asset_partition_range_end": last})


def materialize_in_a_fork(instance: dg.DagsterInstance, first: str, last: str) -> int | None:
    """The same run in a child forked from this process, sharing `instance` and whatever its storages hold open;
    the child's exit code."""
    child = multiprocessing.get_context("fork").Process(target=materialize, args=(instance, first, last))
    child.start()
    child.join(timeout=120)
    return child.exitcode
