"""One hourly-partitioned asset per configured symbol and dataset, `<dataset>/<base>_<quote>` (spot candles:
`candles/btc_usdt`): key, group, description and checks are the dataset's."""

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import cache

import dagster as dg
import polars as pl

from datafactory_assets.assets.closed_hours import refuse_unclosed_partitions
from datafactory_assets.assets.copies import copied
from datafactory_assets.assets.ingest import IngestReport, ValidationFailedError, ingest_window
from datafactory_assets.assets.presigned import presigned
from datafactory_assets.checks import check_specs, gaps_result, validation_result
from datafactory_assets.checks.accuracy import ReferenceTurn, check_accuracy
from datafactory_assets.checks.anomaly import check_anomalies, trailing_start
from datafactory_assets.checks.counterpart import COUNTERPARTS, check_counterpart, counterpart_reads
from datafactory_assets.checks.names import ACCURACY, ANOMALY
from datafactory_assets.datasets import DATASETS, SPOT_CANDLES, Dataset
from datafactory_assets.datasets.slots import slot_ms
from datafactory_assets.hourly import PARTITION_FORMAT
from datafactory_assets.instance.failed_partitions import report_failed_partitions
from datafactory_assets.modes import described
from datafactory_assets.settings import AccuracySettings, AnomalySettings, Settings, SymbolSettings
from datafactory_assets.sources import SourceError
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse import WarehouseResource

# The run's count of candles older than a day that the venue serving them changed (the alert sensors read it).
RUN_HISTORY_REWRITES = "run_history_rewrites"


@contextmanager
def backfill_policy_on_purpose() -> Iterator[None]:
    """`backfill_policy` is beta in Dagster 1.13; we rely on it on purpose, so users need not be told on every load."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        yield


def candle_key(symbol: SymbolSettings, dataset: Dataset = SPOT_CANDLES) -> dg.AssetKey:
    """`<dataset>/<base>_<quote>`, the asset key of a symbol's dataset (`candles/btc_usdt` for spot candles)."""
    return dg.AssetKey([dataset.name, symbol.asset_name])


def dataset_keys(symbol: SymbolSettings) -> list[dg.AssetKey]:
    """The asset keys of every dataset the symbol collects (`candles/btc_usdt`, `open_interest/btc_usdt`)."""
    return [candle_key(symbol, DATASETS[name]) for name in symbol.datasets]


@cache
def hourly_partitions(start: datetime) -> dg.HourlyPartitionsDefinition:
    """One shared definition per start date: the still-open hour is never a partition (end_offset=0)."""
    return dg.HourlyPartitionsDefinition(start_date=start.strftime(PARTITION_FORMAT), end_offset=0)


def build_candle_asset(symbol: SymbolSettings, *, partitions_per_run: int,
                       freshness_policy: dg.FreshnessPolicy | None = None,
                       accuracy: AccuracySettings = AccuracySettings(),
                       anomaly: AnomalySettings = AnomalySettings(),
                       turn: ReferenceTurn = ReferenceTurn(),
                       dataset: Dataset = SPOT_CANDLES, offline: bool = False) -> dg.AssetsDefinition:
    """The asset for one symbol's dataset (spot candles unless told): a run covering a partition range fetches it
    whole and writes it in one commit; `turn` says which of its one-hour windows the accuracy check compares;
    `offline`, the UI says its data is the emulator's."""
    return _candle_asset(symbol, dataset, partitions_per_run, freshness_policy, accuracy=accuracy, anomaly=anomaly,
                         turn=turn, offline=offline)


def _candle_asset(symbol: SymbolSettings, dataset: Dataset, partitions_per_run: int,
                  freshness_policy: dg.FreshnessPolicy | None, *, accuracy: AccuracySettings,
                  anomaly: AnomalySettings, turn: ReferenceTurn, offline: bool) -> dg.AssetsDefinition:
    partitions = hourly_partitions(symbol.start)
    description = dataset.description.format(timeframe=symbol.timeframe, symbol=symbol.symbol)
    template = _template(dataset.name, tuple(dataset.checks.items()), partitions=partitions,
                         partitions_per_run=partitions_per_run, freshness_policy=freshness_policy)
    return copied(template, key=candle_key(symbol, dataset), partitions_def=partitions,
                  fn=_compute(symbol, dataset, accuracy=accuracy, anomaly=anomaly, turn=turn),
                  metadata={"symbol": symbol.symbol, "timeframe": dataset.cadence.timeframe(symbol.timeframe)
                            or "the venue's, per instrument",
                            "sources": ", ".join(symbol.sources)},
                  description=description, shown=described(description, offline=offline))


@cache
def _template(group: str, checks: tuple[tuple[str, str], ...], *, partitions: dg.PartitionsDefinition,
              partitions_per_run: int, freshness_policy: dg.FreshnessPolicy | None) -> dg.AssetsDefinition:
    """What the assets of a dataset (named `group`, with `checks`) over `partitions` share, built once by
    `@dg.asset` for `copied` to copy (its function is never run: the op is built from its signature)."""
    key = dg.AssetKey([group, "template"])
    with backfill_policy_on_purpose():
        return dg.asset(key=key, group_name=group, partitions_def=partitions,
                        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=partitions_per_run),
                        freshness_policy=freshness_policy, check_specs=check_specs(key, checks=dict(checks)),
                        kinds={"duckdb", "polars"}, description="template")(
            _compute(None, SPOT_CANDLES, accuracy=AccuracySettings(), anomaly=AnomalySettings(), turn=ReferenceTurn()))


def _compute(symbol: SymbolSettings, dataset: Dataset, *, accuracy: AccuracySettings, anomaly: AnomalySettings,
             turn: ReferenceTurn):
    @presigned
    def candles(context: dg.AssetExecutionContext, warehouse: WarehouseResource, sources: SourcesResource):
        refuse_unclosed_partitions(context)
        try:
            yield from _materialize(context, symbol, dataset, warehouse=warehouse, sources=sources,
                                    accuracy=accuracy, anomaly=anomaly, turn=turn)
        except Exception:
            report_failed_partitions(context)
            raise

    return candles


def _materialize(context: dg.AssetExecutionContext, symbol: SymbolSettings, dataset: Dataset, *,
                 warehouse: WarehouseResource, sources: SourcesResource, accuracy: AccuracySettings,
                 anomaly: AnomalySettings, turn: ReferenceTurn):
    window = context.partition_time_window
    judged = bool({ACCURACY, ANOMALY, *COUNTERPARTS} & set(dataset.checks))  # checks over the rows stored
    try:
        report = ingest_window(symbol, start=window.start, end=window.end, sources=sources, dataset=dataset,
                               warehouse=warehouse, run_id=context.run_id,
                               read_from=trailing_start(window.start, settings=anomaly,
                                                        timeframe_ms=symbol.timeframe_ms) if judged else None,
                               read_also=counterpart_reads(dataset.checks, symbol.symbol))
    except ValidationFailedError as exc:
        yield from _declared([validation_result(exc.violations)], dataset)
        raise dg.Failure(description=f"{symbol.symbol} {window.start}..{window.end}: {exc}") from exc
    except SourceError as exc:
        raise dg.Failure(
            description=f"{symbol.symbol} {window.start}..{window.end}: {exc}; stored {dataset.unit}s left as they "
                        "were",
            metadata={"requests": len(exc.requests)},
        ) from exc
    # the log file's line
    context.log.info(f"{symbol.symbol} {window.start:%Y-%m-%d %H:%M} .. {window.end:%Y-%m-%d %H:%M} UTC: stored "
                     f"{report.rows} of {report.expected_rows} {dataset.unit}(s), from {report.source}")
    if report.before_listing is not None:
        context.log.info(f"{symbol.symbol}: nothing to store before the listing at "
                         f"{report.before_listing:%Y-%m-%d %H:%M} UTC ({report.source})")
    if report.delisted is not None:
        context.log.info(f"{symbol.symbol}: delisted, its last candle closed at {report.delisted:%Y-%m-%d %H:%M} UTC "
                         f"({report.source}); nothing after it is asked for")
    if report.failures:
        context.log.warning(f"{symbol.symbol}: served by {report.source} after "
                            + "; ".join(map(str, report.failures)))
    if report.revised or report.refused:
        context.log.info(f"{symbol.symbol}: {report.revised} stored {dataset.unit}(s) replaced with other values (the "
                         f"old ones kept in {dataset.revisions_table}), {report.refused} replacement(s) by a "
                         "lower-ranked source or another quote currency refused")
    yield dg.MaterializeResult(
        metadata=(_event_metadata(context, report) if dataset.cadence.venue_interval
                  else _partition_metadata(context, report, slot=slot_ms(dataset, symbol.timeframe_ms))),
        check_results=_declared([validation_result([]),
                                 gaps_result(report.missing, confirmed_empty=report.confirmed_empty,
                                             unit=dataset.unit),
                                 *(_stored_checks(report, symbol, window, dataset=dataset, accuracy=accuracy,
                                                  anomaly=anomaly, sources=sources, turn=turn) if judged else [])],
                                dataset),
    )


def _declared(results: list[dg.AssetCheckResult], dataset: Dataset) -> list[dg.AssetCheckResult]:
    """The results of the checks the dataset's assets declare (`Dataset.checks`): Dagster refuses any other."""
    return [result for result in results if result.check_name in dataset.checks]


def _partition_metadata(context: dg.AssetExecutionContext, report: IngestReport, *, slot: int) -> dict[str, int]:
    """Each partition's materialization carries only its own numbers; the run's figures go once, on its newest
    partition (the one the asset page shows as the latest materialization). Dagster copies a MaterializeResult's
    metadata into every partition's event, so the result carries what a complete hour's numbers are, and only the
    incomplete hours and the newest get metadata of their own (each `add_asset_metadata` call copies all the
    partition metadata added before it, so one per partition would cost the square of the run's length). Rows are
    counted in the dataset's slots of `slot` ms (5m for open interest, the symbol's timeframe for candles)."""
    window = context.partition_time_window
    minutes_per_candle, per_hour = slot // 60_000, 3_600_000 // slot
    for key, absent in _missing_per_partition(report.missing, timeframe_ms=slot).items():
        context.add_asset_metadata({"rows": per_hour - absent,
                                    "missing_minutes": absent * minutes_per_candle}, partition_key=key)
    context.add_asset_metadata({
        "run_rows": report.rows,
        "run_expected_rows": report.expected_rows,
        "run_missing_minutes": report.missing_candles * minutes_per_candle,
        "source": report.source,
        "failed_sources": _listed(report.failures),
        "passed_over": _listed(report.passed_over),
        "requests": len(report.requests),
        "retries": report.retries,
        "filled_from": dg.MetadataValue.json(report.filled),
        "quote_currency": "; ".join(report.quote_notes) or "as listed",
        "run_revised_candles": report.revised,
        "run_refused_downgrades": report.refused,
        RUN_HISTORY_REWRITES: report.history_rewrites,
        "fetch_latency_ms": round(report.fetch_latency_ms, 1),
        "partitions": len(context.partition_keys),
        "window": f"{window.start:%Y-%m-%d %H:%M} .. {window.end:%Y-%m-%d %H:%M} UTC",
    }, partition_key=context.partition_keys[-1])
    return {"rows": per_hour, "expected_rows": per_hour, "missing_minutes": 0}


def _event_metadata(context: dg.AssetExecutionContext, report: IngestReport) -> dict[str, int]:
    """`_partition_metadata` for rows at the venue's own intervals (funding events): an hour holds none or one, so
    a partition says only how many due events it lacks; the run's figures go on the newest partition."""
    for key, absent in _missing_per_partition(report.missing, timeframe_ms=3_600_000).items():
        context.add_asset_metadata({"missing_events": absent}, partition_key=key)
    context.add_asset_metadata({"run_rows": report.rows, "run_expected_rows": report.expected_rows,
                                "run_missing_events": report.missing_candles, "source": report.source,
                                "failed_sources": _listed(report.failures), "requests": len(report.requests),
                                "partitions": len(context.partition_keys)},
                               partition_key=context.partition_keys[-1])
    return {"missing_events": 0}


def _missing_per_partition(ranges: pl.DataFrame, *, timeframe_ms: int) -> dict[str, int]:
    """Missing candles per hourly partition key, from the run's missing ranges (a range may span hours)."""
    if not ranges.height:
        return {}
    times = ranges.select(ts=pl.datetime_ranges("first_missing", "last_missing",
                                                interval=f"{timeframe_ms}ms")).explode("ts")
    per_hour = times.group_by(pl.col("ts").dt.truncate("1h").dt.strftime(PARTITION_FORMAT).alias("key")).len()
    return dict(per_hour.iter_rows())


def _stored_checks(report: IngestReport, symbol: SymbolSettings, window: dg.TimeWindow, *, dataset: Dataset,
                   accuracy: AccuracySettings, anomaly: AnomalySettings, sources: SourcesResource,
                   turn: ReferenceTurn) -> list[dg.AssetCheckResult]:
    """The verdicts over what is stored after the write (`report.stored`, and the other sides in
    `report.alongside`: read back by the write's own connection, closed before the reference is asked) of the
    checks the dataset declares: accuracy against the reference, anomalies (the window and the candles before it),
    and the cross-dataset ones (`counterpart`). A window holding no hour of the symbol's turn to ask the reference
    is not compared, and its check says so."""
    recent = report.stored
    stored = recent.filter(pl.col("ts") >= window.start.replace(tzinfo=None))
    results = [check_counterpart(name, stored, symbol.symbol, alongside=report.alongside,
                                 tolerance_bps=accuracy.tolerance_bps)
               for name in dataset.checks if name in COUNTERPARTS]
    if ACCURACY in dataset.checks:
        results.append(check_accuracy(stored, symbol, start=window.start, end=window.end, settings=accuracy,
                                      sources=sources) if turn.due(window.start, window.end)
                       else turn.deferred(symbol.symbol, window.end, settings=accuracy))
    if ANOMALY in dataset.checks:
        results.append(check_anomalies(recent, symbol, start=window.start, settings=anomaly))
    return results


def _listed(sources: list) -> dg.MetadataValue:
    return dg.MetadataValue.md("\n".join(f"- {s}" for s in sources) if sources else "none")


def candle_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    """Every configured symbol's asset per dataset it collects (spot: its candles), each held to the configured
    freshness (Dagster evaluates and shows it)."""
    freshness = dg.FreshnessPolicy.time_window(fail_window=timedelta(minutes=settings.freshness_fail_minutes),
                                               warn_window=timedelta(minutes=settings.freshness_warn_minutes))
    turns = ReferenceTurn.every([s.symbol for s in settings.symbols], per_hour=settings.accuracy.checks_per_hour)
    return [build_candle_asset(s, partitions_per_run=settings.partitions_per_run, freshness_policy=freshness,
                               accuracy=settings.accuracy, anomaly=settings.anomaly, dataset=DATASETS[name],
                               turn=turns[s.symbol], offline=bool(settings.emulator_url))
            for s in settings.symbols for name in s.datasets]
