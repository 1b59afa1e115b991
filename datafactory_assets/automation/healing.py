"""The gap-healing sensor: every minute, runs for the hourly partitions the warehouse lacks rows of a dataset for.

The warehouse is the truth about completeness. For a dataset at fixed slots (candles, open interest) an hour is
incomplete when it holds fewer rows than its slots (`datasets.slots`: for spot candles, the configured timeframe's),
counting the slots every source confirmed empty (`known_gaps`) as held (`queries.incomplete_ranges`). For funding,
whose events come at intervals the venue states per instrument, an hour is incomplete when it holds an event due on
the instrument's interval timeline that is neither stored nor confirmed empty, and an hour with none due is
complete; before an instrument's first stored event its interval is not known, so that whole span is asked for, in
ranges as for an empty warehouse (`queries.incomplete_event_ranges`). Hours before the pair's listing
(`symbols.listed_ts`) or after its delisting (`symbols.delisted_ts`) are not asked for at all. That covers
partitions never run, runs that failed, and rows lost afterwards alike. Hours still the hourly schedule's (closed
less than `settle_minutes` ago) are left to it, and hours a queued or running run or a running backfill already
covers are not asked for twice. An hour that stays incomplete is asked for again with a doubling back-off, and after
`max_attempts` it is reported (an observation on the asset and a warning in the tick's log) and left alone.
"""

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from datafactory_assets.assets import candle_key, hourly_partitions
from datafactory_assets.automation.healing_plan import (HealingMemory, HealingRun, HourRange, partition_id,
                                                        plan_tick)
from datafactory_assets.automation.run_tags import candle_run_tags
from datafactory_assets.datasets import DATASETS, SPOT_CANDLES, Dataset
from datafactory_assets.series import Series, incomplete_ranges
from datafactory_assets.settings import Settings, SymbolSettings
from datafactory_assets.warehouse import WarehouseResource

HEALING_TAG = "datafactory/healing"
_IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
              dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def series_id(symbol: SymbolSettings, dataset: Dataset) -> str:
    """What the plan calls one asset's series: the symbol for spot candles (as before datasets existed, so saved
    cursors stay valid), `<dataset>:<symbol>` for another dataset."""
    return symbol.symbol if dataset is SPOT_CANDLES else f"{dataset.name}:{symbol.symbol}"


def build_healing_sensor(settings: Settings) -> dg.SensorDefinition:
    """`candles_healing` over every asset of every dataset, running by default unless `[healing] enabled = false`;
    each dataset's hours are judged at its own cadence (see the module docstring)."""
    collected = [(s, DATASETS[name]) for s in settings.symbols for name in s.datasets]
    symbols = {series_id(s, d): s for s, d in collected}
    keys = {series_id(s, d): candle_key(s, d) for s, d in collected}
    healing = settings.healing

    @dg.sensor(name="candles_healing", minimum_interval_seconds=healing.interval_s,
               asset_selection=list(keys.values()),
               default_status=dg.DefaultSensorStatus.RUNNING if healing.enabled else dg.DefaultSensorStatus.STOPPED,
               description="Asks for runs of the candle partitions that are missing, failed or incomplete, oldest "
                           "or newest first, a few per tick, each hour a bounded number of times.")
    def candles_healing(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        now = datetime.now(UTC)
        until = (now - timedelta(minutes=healing.settle_minutes)).replace(minute=0, second=0, microsecond=0)
        tick = plan_tick(
            _incomplete_series(collected, warehouse, until=until),
            in_flight=_in_flight(context.instance, symbols, keys),
            memory=HealingMemory.from_cursor(context.cursor),
            now=now.timestamp(), settings=healing, partitions_per_run=settings.partitions_per_run,
            run_group=lambda symbol: symbols[symbol].sources[0],
        )
        for pid in tick.gave_up:
            context.log.warning(f"healing gave up on {pid} after {healing.max_attempts} runs; it stays incomplete")
        return dg.SensorResult(
            run_requests=_run_requests(tick.runs, symbols, keys),
            cursor=tick.memory.to_cursor(),
            asset_events=[_gave_up_event(pid, keys, healing.max_attempts) for pid in tick.gave_up],
            skip_reason=None if tick.runs else "every partition is complete, in flight, waiting or given up",
        )

    return candles_healing


def _incomplete_series(collected: list[tuple[SymbolSettings, Dataset]], warehouse: WarehouseResource, *,
                       until: datetime) -> dict[str, list[HourRange]]:
    """`_incomplete_ranges` of every dataset over the symbols collecting it, by series id."""
    by_dataset: dict[str, list[SymbolSettings]] = defaultdict(list)
    for symbol, dataset in collected:
        by_dataset[dataset.name].append(symbol)
    found: dict[str, list[HourRange]] = {}
    for name, members in by_dataset.items():
        dataset = DATASETS[name]
        ranges = _incomplete_ranges(tuple(members), warehouse, until=until, dataset=dataset)
        found.update({series_id(s, dataset): ranges.get(s.symbol, []) for s in members})
    return found


def _incomplete_ranges(symbols: tuple[SymbolSettings, ...], warehouse: WarehouseResource, *,
                       until: datetime, dataset: Dataset) -> dict[str, list[HourRange]]:
    """Per symbol, the ranges of incomplete hours of the dataset from its start up to `until`, in one query for all
    symbols: hours holding fewer rows than its slots, or for the venue's own intervals (funding) hours missing a due
    event and the span before the first stored one; the whole span before the warehouse exists."""
    try:
        with warehouse.connect(read_only=True) as conn:
            return incomplete_ranges(conn, [Series(s, dataset.name) for s in symbols],
                                     starts=[s.start for s in symbols], until=until)
    except FileNotFoundError:
        last = until.replace(tzinfo=None)
        return {s.symbol: [(s.start.replace(tzinfo=None), last)] if s.start < until else [] for s in symbols}


def _in_flight(instance: dg.DagsterInstance, symbols: dict[str, SymbolSettings],
               keys: dict[str, dg.AssetKey]) -> set[str]:
    """Partitions a queued or running run, or a backfill still being submitted, already covers."""
    by_key = {key: symbol for symbol, key in keys.items()}
    busy: set[str] = set()
    for run in instance.get_runs(dg.RunsFilter(statuses=_IN_FLIGHT)):
        selected = [by_key[k] for k in (run.asset_selection or by_key) if k in by_key]
        for partition in _run_partitions(run.tags, symbols, selected):
            busy.update(partition_id(symbol, partition) for symbol in selected)
    for backfill in instance.get_backfills(status=BulkActionStatus.REQUESTED):
        if backfill.is_asset_backfill:
            for target in backfill.asset_backfill_data.target_subset.iterate_asset_partitions():
                if target.asset_key in by_key and target.partition_key:
                    busy.add(partition_id(by_key[target.asset_key], target.partition_key))
    return busy


def _run_partitions(tags: dict, symbols: dict[str, SymbolSettings], selected: list[str]) -> list[str]:
    if PARTITION_NAME_TAG in tags:
        return [tags[PARTITION_NAME_TAG]]
    if ASSET_PARTITION_RANGE_START_TAG in tags and selected:
        keys = dg.PartitionKeyRange(tags[ASSET_PARTITION_RANGE_START_TAG], tags[ASSET_PARTITION_RANGE_END_TAG])
        return hourly_partitions(symbols[selected[0]].start).get_partition_keys_in_range(keys)
    return []


def _run_requests(runs: list[HealingRun], symbols: dict[str, SymbolSettings],
                  keys: dict[str, dg.AssetKey]) -> list[dg.RunRequest]:
    """One request per range the plan asked for, covering every symbol of one primary source that needs it."""
    shared: dict[tuple[str, tuple[str, ...]], list[dg.AssetKey]] = defaultdict(list)
    for run in runs:
        shared[(symbols[run.symbol].sources[0], run.partition_keys)].append(keys[run.symbol])
    return [_run_request(source, partition_keys, selection)
            for (source, partition_keys), selection in shared.items()]


def _run_request(source: str, partition_keys: tuple[str, ...], selection: list[dg.AssetKey]) -> dg.RunRequest:
    tags = {**candle_run_tags(source), HEALING_TAG: "true"}
    if len(partition_keys) == 1:
        return dg.RunRequest(asset_selection=selection, partition_key=partition_keys[0], tags=tags)
    first, last = partition_keys[0], partition_keys[-1]
    return dg.RunRequest(asset_selection=selection, tags={**tags, ASSET_PARTITION_RANGE_START_TAG: first,
                                                          ASSET_PARTITION_RANGE_END_TAG: last})


def _gave_up_event(pid: str, keys: dict[str, dg.AssetKey], attempts: int) -> dg.AssetObservation:
    symbol, partition = pid.split("|", 1)
    return dg.AssetObservation(asset_key=keys[symbol], partition=partition, metadata={
        "healing": dg.MetadataValue.text(f"gave up after {attempts} runs: the hour is still incomplete and not "
                                         "confirmed empty at every source; run it by hand once the cause is fixed"),
        "healing_attempts": attempts,
    })
