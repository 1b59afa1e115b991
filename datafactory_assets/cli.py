"""The `datafactory` command: coverage and gaps at a glance, warehouse set-up, the emulator, and the platform."""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click
import polars as pl
from rich.console import Console
from rich.table import Table

from datafactory_assets import modes, progress
from datafactory_assets.datasets import DATASETS, SPOT_CANDLES, Dataset
from datafactory_assets.hourly import open_hour
from datafactory_assets.instance.profiles import DEFAULT_PROFILE, PROFILE_ENV, TEMPLATES, ProfileError
from datafactory_assets.settings import ConfigError, Settings, load_settings
from datafactory_assets.warehouse import (WarehouseDamagedError, WarehouseLockedError, WarehouseReadOnlyError,
                                          connection, queries)
from datafactory_assets.warehouse.schema import SchemaError


def _console() -> Console:
    """A terminal gets rich's own width; a pipe or file gets lines wide enough not to wrap the tables."""
    return Console(width=None if sys.stdout.isatty() else 200)


def _say(text: str) -> None:
    """One plain line for a person: paths, symbols and numbers printed as they are (no rich markup or colouring),
    wrapped by the terminal, never cut."""
    _console().print(text, markup=False, highlight=False, soft_wrap=True)


def _offline() -> bool:
    """`datafactory --offline ...` or DATAFACTORY_OFFLINE=1: the commands read the offline platform's warehouse."""
    return click.get_current_context().find_root().params["offline"]


@contextmanager
def _connect(path: Path | None = None, *, read_only: bool):
    """A connection to the warehouse at `path` (the mode's by default) that waits at most 30 s for a writer: a person
    is waiting. Says on stderr which warehouse it opened; when the real one is missing but the offline one exists,
    says that instead of suggesting `datafactory init`."""
    path = path or load_settings().warehouse_path
    offline = _offline()
    hint = None if offline or not read_only else modes.missing_warehouse_hint(path)
    if hint:
        raise click.ClickException(f"no warehouse at {path}; {hint}")
    with connection.connect(path, read_only=read_only, lock_timeout_s=30) as conn:
        click.echo(f"warehouse: {path}{' (offline: emulator data)' if offline else ''}", err=True)
        yield conn


def _print_frame(frame: pl.DataFrame, title: str) -> None:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(column)
    for row in frame.iter_rows():
        table.add_row(*("" if v is None else str(v) for v in row))
    _console().print(table)


_STATUS_COLUMNS = ("symbol", "dataset", "counted_from", "from_ts", "expected", "rows", "confirmed_empty", "missing",
                   "not_fetched", "completeness_pct", "last_ts", "latest_source", "note")


class _Commands(click.Group):
    """Every command meets a broken configuration, a missing, damaged or read-only warehouse or one held too long by
    a writer with one line naming it, not a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (ConfigError, WarehouseLockedError, WarehouseDamagedError, WarehouseReadOnlyError,
                FileNotFoundError, modes.ModeError) as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Commands)
@click.option("--offline", is_flag=True, default=lambda: modes.offline_requested(os.environ),
              help="Read the offline platform's warehouse (emulator data; also: DATAFACTORY_OFFLINE=1).")
def main(offline: bool) -> None:
    """Data-Factory: crypto candles with Dagster and DuckDB."""
    if offline:  # the variable every command and the offline platform's processes resolve the warehouse from
        os.environ[modes.WAREHOUSE_ENV] = str(modes.warehouse(modes.OFFLINE, os.environ))


@main.command()
def status() -> None:
    """Completeness per symbol and dataset it collects, from its configured start (or its listing, when the venue
    began later) to the last closed hour (or its delisting, which `note` dates): rows stored, confirmed empty, missing
    (asked, not served) and not yet fetched. A configured symbol never run shows 0%."""
    settings = load_settings()
    with _connect(settings.warehouse_path, read_only=True) as conn:
        try:
            until = open_hour()  # the header's hour; a delisted pair's row counts to its delisting
            frame = queries.coverage_of_every_dataset(conn, settings.symbols, until=until)
        except SchemaError as exc:
            raise click.ClickException(str(exc)) from exc  # the warehouse's line named the file
    _print_frame(frame.select(_STATUS_COLUMNS), f"Data coverage status, to {until:%Y-%m-%d %H:%M} UTC (the last "
                                               "closed hour)")
    per_dataset = frame.partition_by("dataset", maintain_order=True)
    for rows in per_dataset:  # one line per dataset, in its own unit: candles and funding events do not add up
        collecting = f" collecting {rows['dataset'][0]}" if len(per_dataset) > 1 else ""
        _say(f"{rows['symbol'].n_unique()} symbol(s){collecting}: "
             f"{queries.Completeness.of(rows).summary(queries.unit_of(rows))}")


@main.command()
@click.option("--hourly", "hours", type=int, is_flag=False, flag_value=24, default=None, metavar="[HOURS]",
              help="Instead: per source and hour, the last HOURS hours with requests (default 24).")
def health(hours: int | None) -> None:
    """Per source: breaker state, success rate, p50/p95 latency and last error (last 24 hours)."""
    from datafactory_assets.resilience import breaker_states

    settings = load_settings()
    with _connect(settings.warehouse_path, read_only=True) as conn:
        requests = queries.source_health(conn)
        hourly = queries.source_health_hourly(conn) if hours else None
    if hourly is not None:
        recent = hourly.filter(pl.col("hour").is_in(hourly["hour"].unique().sort(descending=True).head(hours)))
        if recent.is_empty():
            _console().print("no source requests recorded yet")
            return
        _print_frame(recent,
                     f"Source health per hour (UTC, the last {hours} hour(s) with requests)")
        return
    breakers = breaker_states(settings.state_path)
    if requests.is_empty() and breakers.is_empty():
        _console().print("no source requests recorded yet")
        return
    table = breakers.join(requests, on="source", how="full", coalesce=True).with_columns(
        pl.col("breaker").fill_null("closed")).sort("source")
    _print_frame(table.select("source", "breaker", "failures", "blocked_for_s", "requests", "success_pct", "p50_ms",
                              "p95_ms", "errors", "last_error_at", "last_error_class", "last_failure"),
                 "Source health (last 24 hours)")


_DATASET_OPTION = click.option(
    "--dataset", "dataset_name", type=click.Choice(list(DATASETS)), default=SPOT_CANDLES.name, show_default=True,
    help="The dataset to read (candles: spot candles; a perpetual's: perp_candles, funding_rates, ...).")


def _collecting(settings: Settings, dataset: Dataset, symbol: str | None) -> list[str]:
    """The configured symbols that collect `dataset`, sorted. A `symbol` configured without collecting it, or no
    configured symbol collecting it, is bad input: one line (exit 2) saying what is collected instead."""
    collecting = sorted(s.symbol for s in settings.symbols if dataset.name in s.datasets)
    chosen = next((s for s in settings.symbols if s.symbol == symbol), None)
    if chosen is not None and dataset.name not in chosen.datasets:
        raise click.BadParameter(f"{symbol} does not collect {dataset.name}; it collects: "
                                 f"{', '.join(chosen.datasets)}", param_hint="--dataset")
    if not collecting:
        raise click.BadParameter(f"no configured symbol collects {dataset.name} (see {settings.config_path})",
                                 param_hint="--dataset")
    return collecting


@main.command()
@click.option("--symbol", help="Only this symbol, such as BTC/USDT.")
@_DATASET_OPTION
def gaps(symbol: str | None, dataset_name: str) -> None:
    """Missing ranges of a dataset's rows (first and last missing slot, UTC; spot candles unless --dataset says);
    `confirmed_empty` counts the slots every source lacked, with rows around them, in two fetches an hour apart
    (healing leaves them alone), `unconfirmed` the others; `reason` says what a confirmed hole means where the venue
    says (Binance: a halt or maintenance). A symbol that is not configured, or has nothing stored, is an error: its
    gaps are unknown, not absent."""
    settings, dataset = load_settings(), DATASETS[dataset_name]
    configured = sorted(s.symbol for s in settings.symbols)
    if symbol is not None and symbol not in configured:
        raise click.ClickException(f"{symbol} is not configured in {settings.config_path}; configured: "
                                   f"{', '.join(configured)}")
    collecting = _collecting(settings, dataset, symbol)
    unit = dataset.unit
    with _connect(settings.warehouse_path, read_only=True) as conn:
        frame = queries.gaps(conn, symbol, dataset=dataset)
        stored = queries.coverage(conn, dataset=dataset).filter(pl.col("first_ts").is_not_null())
    if symbol is not None:
        stored = stored.filter(pl.col("symbol") == symbol)
    if stored.is_empty():
        raise click.ClickException(f"no {unit}s stored yet{' for ' + symbol if symbol else ''}: gaps are unknown, "
                                   "not absent")
    unstored = [] if symbol else sorted(set(collecting) - set(stored["symbol"]))
    unstored_note = (f"; nothing stored yet for {', '.join(unstored)} (`datafactory status` counts what is not yet "
                     "fetched)" if unstored else "")  # their whole history is unknown, which "no gaps" must not hide
    if frame.is_empty():
        span = (f"{symbol}'s first and last stored {unit} ({stored['first_ts'][0]:%Y-%m-%d %H:%M} .. "
                f"{stored['last_ts'][0]:%Y-%m-%d %H:%M} UTC)" if symbol else
                f"the first and last stored {unit} of each of {stored.height} symbol(s)")
        _say(f"no gaps between {span}{unstored_note}")
        return
    of = f" of {dataset.name}" if dataset is not SPOT_CANDLES else ""
    _print_frame(frame, f"Gaps{of}{' in ' + symbol if symbol else ''}")
    _say(f"{frame.height} gap(s), {frame['missing'].sum()} missing {unit}(s): "
         f"{frame['unconfirmed'].sum()} not yet confirmed, {frame['confirmed_empty'].sum()} confirmed "
         f"empty at every source{unstored_note}")


@main.command()
@click.option("--symbol", help="Only this symbol, such as BTC/USDT.")
@click.option("--since", help="Only revisions made since this date or ISO time, UTC unless it says otherwise.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True,
              help="Show at most this many, newest first.")
@_DATASET_OPTION
def revisions(symbol: str | None, since: str | None, limit: int, dataset_name: str) -> None:
    """Stored rows of a dataset (spot candles unless --dataset says) a later fetch replaced with other values (a
    venue correcting its history, or a better-ranked source), each as `old -> new`. Lower-ranked sources never
    replace a stored row, so they are not listed."""
    settings, dataset = load_settings(), DATASETS[dataset_name]
    moment = _export_moment(since, "--since")
    _collecting(settings, dataset, symbol)
    with _connect(settings.warehouse_path, read_only=True) as conn:
        frame = queries.revisions(conn, symbol=symbol, since=moment, dataset=dataset)
    configured = sorted(s.symbol for s in settings.symbols)
    if frame.is_empty() and symbol is not None and symbol not in configured:
        raise click.ClickException(f"{symbol} is not configured in {settings.config_path}; configured: "
                                   f"{', '.join(configured)}")
    unit = dataset.unit
    if frame.is_empty():
        _console().print(f"no revisions recorded{' for ' + symbol if symbol else ''}"
                         f"{' since ' + since if since else ''}: no stored {unit} was changed")
        return
    changes = [pl.when(pl.col(f"old_{c}").eq_missing(pl.col(f"new_{c}"))).then(_shown(f"old_{c}"))
               .otherwise(pl.format("{} -> {}", _shown(f"old_{c}"), _shown(f"new_{c}"))).alias(c)
               for c in ("source", *dataset.values)]
    _print_frame(frame.head(limit).select(pl.col("revised_at").dt.truncate("1s"), "symbol", *dataset.row_keys,
                                          *changes, "run_id"),
                 f"{unit.capitalize()} revisions{' of ' + symbol if symbol else ''} (UTC, newest first)")
    shown = f", the newest {limit} shown (--limit shows more)" if frame.height > limit else ""
    _console().print(f"{frame.height} revision(s) of {frame['symbol'].n_unique()} symbol(s){shown}")


def _shown(column: str) -> pl.Expr:
    """A value as the revisions table shows it; a value the venue left out (funding's mark price) as `none`."""
    return pl.col(column).cast(pl.String).fill_null("none")


def _export_moment(text: str | None, option: str) -> datetime | None:
    """`2025-01-01`, `2025-01-01T05:00` or any ISO 8601 time; without an offset it is UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} is not a date (2025-01-01) or an ISO hour (2025-01-01T05:00)",
                                 param_hint=option) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@main.command()
@click.option("--symbol", required=True, help="The symbol to export: BTC/USDT, or a perpetual (BTC/USDT:USDT) with "
              "--trading-mode futures.")
@click.option("--trading-mode", type=click.Choice(["spot", "futures"]), default="spot", show_default=True,
              help="futures: a perpetual's futures, mark and funding data in freqtrade's futures layout under --dir.")
@click.option("--timeframe", "timeframes", multiple=True,
              help="The symbol's base timeframe (the default), 1h or 1d; with futures, repeat it for several.")
@click.option("--candle-type", "candle_types", multiple=True, help="futures only, repeatable: futures, mark, index, "
              "premiumIndex, funding_rate (default: futures candles, 1h mark candles and funding rates, as freqtrade's "
              "download-data).")
@click.option("--start", help="First open time, UTC: 2025-01-01 or 2025-01-01T05:00 (default: the first candle).")
@click.option("--end", help="End of the window, exclusive, UTC: 2025-02-01 or 2025-01-31T18:00 (default: none).")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv", "feather", "json"]),
              help="spot: parquet (the default) or csv; futures: feather (the default, freqtrade's), parquet or json.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="spot: file to write (default: data/exports/<base>_<quote>-<timeframe>.<ext> beside the config).")
@click.option("--dir", "datadir", type=click.Path(file_okay=False, path_type=Path),
              help="futures: freqtrade's data directory, such as user_data/data/binance (default: "
                   "data/exports/freqtrade beside the config); the files go to its futures/ folder.")
@click.option("--overwrite", is_flag=True, help="Replace files that already exist.")
def export(symbol: str, trading_mode: str, timeframes: tuple[str, ...], candle_types: tuple[str, ...],
           start: str | None, end: str | None, fmt: str | None, output: Path | None, datadir: Path | None,
           overwrite: bool) -> None:
    """Write one symbol's data with open time in [start, end) to files freqtrade and pandas load as they are: one
    file of spot candles, or a perpetual's files in freqtrade's futures layout."""
    first, last = _export_moment(start, "--start"), _export_moment(end, "--end")
    futures = trading_mode == "futures"
    refused = [f"{option} is for --trading-mode {mode}" for option, given, mode in [
        ("--output", output, "spot"), ("--dir", datadir, "futures"), ("--candle-type", candle_types, "futures"),
        ("--format csv", fmt == "csv", "spot"), (f"--format {fmt}", fmt in ("feather", "json"), "futures"),
        ("more than one --timeframe", len(timeframes) > 1, "futures")] if given and futures != (mode == "futures")]
    if refused:
        why = ("a futures export writes freqtrade's files under --dir" if futures else
               "a spot export writes one file; --trading-mode futures writes freqtrade's futures layout")
        raise click.UsageError(f"{'; '.join(refused)} ({why})")
    try:
        settings = load_settings()
        exports_dir = settings.config_path.parent / "data" / "exports"
        with _connect(settings.warehouse_path, read_only=True) as conn:
            if futures:
                lines = _export_futures(conn, symbol=symbol, datadir=datadir or exports_dir / "freqtrade",
                                        timeframes=timeframes, candle_types=candle_types, start=first, end=last,
                                        fmt=fmt or "feather", overwrite=overwrite)
            else:
                lines = [_export_spot(conn, symbol=symbol, timeframe=next(iter(timeframes), None), start=first,
                                      end=last, fmt=fmt or "parquet", path=output, exports_dir=exports_dir,
                                      overwrite=overwrite)]
    except (FileNotFoundError, FileExistsError, ValueError, WarehouseLockedError) as exc:
        raise click.ClickException(str(exc)) from exc
    for line in lines:
        _say(line)


def _export_spot(conn, *, symbol: str, timeframe: str | None, start: datetime | None, end: datetime | None,
                 fmt: str, path: Path | None, exports_dir: Path, overwrite: bool) -> str:
    from datafactory_assets.warehouse import export as exports

    timeframe = timeframe or exports.base_timeframe(conn, symbol)
    path = path or exports_dir / exports.default_filename(symbol, timeframe, fmt)
    rows = exports.export_candles(conn, symbol=symbol, timeframe=timeframe, start=start, end=end, path=path,
                                  fmt=fmt, overwrite=overwrite)
    return f"wrote {rows} {symbol} {timeframe} candle(s) to {path}"


def _export_futures(conn, *, symbol: str, datadir: Path, timeframes: tuple[str, ...], candle_types: tuple[str, ...],
                    start: datetime | None, end: datetime | None, fmt: str, overwrite: bool) -> list[str]:
    from datafactory_assets.warehouse.freqtrade_futures import export_futures

    written = export_futures(conn, symbol=symbol, datadir=datadir, timeframes=timeframes, candle_types=candle_types,
                             start=start, end=end, fmt=fmt, overwrite=overwrite)
    return [*(f"wrote {w.rows} {symbol} {w.candle_type} {w.timeframe} row(s) to {w.path}" for w in written),
            f"freqtrade reads them with: --trading-mode futures --datadir {datadir} --data-format-ohlcv {fmt}"]


@main.command()
@click.option("--fix", is_flag=True, help="Remove rows that must not exist and repeated copies of candles, or rewrite "
              "a file whose only damage is in free space.")
def doctor(fix: bool) -> None:
    """Read every block of the warehouse file and every archive file, check integrity and say how to fix what is
    found; exit status 1 while problems remain."""
    from datafactory_assets.warehouse.integrity import find_problems, fix_findings
    from datafactory_assets.warehouse.unlisted import unlisted_pairs

    settings = load_settings()
    path = settings.warehouse_path
    if fix:
        with _connect(path, read_only=False) as conn:
            _console().print(fix_findings(conn))
    with _connect(path, read_only=True) as conn:
        findings = find_problems(conn)
        # the file's own problems first: reading more of a damaged file would only fail again
        unlisted = [] if findings else unlisted_pairs(conn, [s.symbol for s in settings.symbols])
    for line in unlisted:
        _say(line)
    if not findings and not unlisted:
        _console().print("warehouse healthy: no problems found")
        return
    if findings:
        _say(f"warehouse {path}: {len(findings)} problem(s)")
    for finding in findings:
        _say(str(finding))
    raise SystemExit(1)


@main.command()
@click.option("--before", help="Archive every month before this month start, UTC: 2025-03-01 or 2025-03.")
@click.option("--dry-run", is_flag=True, help="With --before: list what would move and change nothing.")
@click.option("--restore", metavar="YYYY-MM", help="Instead: put this archived month of --symbol back into the table.")
@click.option("--symbol", help="With --restore: the symbol, such as BTC/USDT.")
def archive(before: str | None, dry_run: bool, restore: str | None, symbol: str | None) -> None:
    """Move closed months of candles into Parquet beside the warehouse (<stem>.archive/symbol=../month=..); every
    view, export and rollup keeps reading them, and the DuckDB file shrinks."""
    from datafactory_assets.warehouse import archive as archives

    if (before is None) == (restore is None) or (restore is not None) != (symbol is not None):
        raise click.UsageError("use --before DATE [--dry-run], or --restore YYYY-MM --symbol SYMBOL")
    path = load_settings().warehouse_path
    archive_dir = connection.archive_dir(path)
    try:
        if restore is not None:
            with _connect(path, read_only=False) as conn:
                rows = archives.restore_month(conn, archive_dir=archive_dir, symbol=symbol, month=restore)
            _console().print(f"restored {rows} {symbol} candle(s) of {restore} into the table")
            return
        cutoff = archives.parse_cutoff(before, today=datetime.now(UTC).date())
        size = path.stat().st_size if path.exists() else 0
        with _connect(path, read_only=dry_run) as conn:
            moves = (archives.months_to_archive(conn, cutoff) if dry_run else
                     archives.archive_before(conn, archive_dir=archive_dir, before=cutoff))
            if moves and not dry_run:
                archives.compact(conn)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if not moves:
        _console().print(f"nothing to archive before {cutoff}")
        return
    _print_frame(pl.DataFrame(moves), "Would move" if dry_run else "Moved")
    verb = "would move" if dry_run else "moved"
    _say(f"{verb} {sum(m.rows for m in moves)} candle(s) of {len(moves)} symbol-month(s) to {archive_dir}")
    if not dry_run:
        _say(f"warehouse file {size / 2**20:.1f} MiB -> {path.stat().st_size / 2**20:.1f} MiB")


@main.command()
@click.option("--fresh", is_flag=True, help="Create a brand-new timestamped database instead of the configured one.")
def init(fresh: bool) -> None:
    """Create the warehouse schema (idempotent; never drops anything)."""
    path = load_settings().warehouse_path
    if fresh:
        path = queries.fresh_database_path(path.parent, datetime.now(UTC))
        if path.exists():
            raise click.ClickException(f"{path} already exists; try again in a second")
    with connection.connect(path):
        pass
    _console().print(f"warehouse ready at {path}")
    if fresh:
        _console().print(f"use it with: export DATAFACTORY_WAREHOUSE={path}")


@main.command()
@click.option("--from", "first", required=True, help="First hour: 2025-01-01, 2025-01-01T05:00 or 2025-01-01-05:00.")
@click.option("--to", "last", required=True, help="Last hour, inclusive; a bare date means through its last hour.")
@click.option("--symbol", "symbols", multiple=True, help="Only these symbols (default: every configured one).")
@click.option("--refetch", is_flag=True, help="Fetch every hour of the range again, even those stored complete.")
@click.option("--url", default="http://127.0.0.1:3000", show_default=True, help="The running Dagster webserver.")
@click.option("--wait/--no-wait", default=False, help="Show progress until the backfill has finished.")
@click.option("--timeout", "timeout_s", default=3600.0, show_default=True, help="Seconds to wait with --wait.")
def backfill(first: str, last: str, symbols: tuple[str, ...], refetch: bool, url: str, wait: bool,
             timeout_s: float) -> None:
    """Backfill the hours of a range the warehouse does not hold complete (all of them with --refetch) through the
    webserver: each run of missing hours follows the backfill policy; one backfill per primary source, its runs
    tagged with it for the production queue's limits."""
    from datafactory_assets.automation import backfill as backfills

    try:
        settings = load_settings()
        start, end = backfills.partition_range(first, last)
        selected = backfills.selected_symbols(settings, list(symbols), start)
        if refetch or not settings.warehouse_path.exists():
            plan = backfills.whole_window(selected, start, end)
        else:
            with _connect(settings.warehouse_path, read_only=True) as conn:
                plan = backfills.missing_ranges(conn, selected, start, end)
        stored_before = progress.tally(settings.warehouse_path, plan) if wait else None
    except (ValueError, FileNotFoundError, WarehouseLockedError) as exc:
        raise click.ClickException(str(exc)) from exc
    window, asked = len(selected) * progress.hour_count([(start, end)]), sum(map(progress.hour_count, plan.values()))
    span = f"{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC"
    if not asked:
        _console().print(f"nothing to backfill: all {window} hour(s) of {len(selected)} symbol(s), {span}, are "
                         "stored complete (--refetch fetches them again)")
        return
    _console().print(f"{asked} of {window} hour(s) to fetch, {span}; {window - asked} already stored complete")
    began = time.monotonic()
    backfill_id = _launch_runs(url, plan, partitions_per_run=settings.partitions_per_run)
    if stored_before is not None:
        _follow_runs(url, backfill_id, plan=plan, path=settings.warehouse_path,
                     meter=progress.Meter(stored_before, began), timeout_s=timeout_s)


def _launch_runs(url: str, plan: progress.Plan, *, partitions_per_run: int) -> str:
    """Queue the range runs that fetch `plan`; the backfill id their tag carries."""
    from datafactory_assets.automation import backfill as backfills

    runs = backfills.range_runs(plan, partitions_per_run=partitions_per_run)
    backfill_id = backfills.new_backfill_id()
    try:
        backfills.launch_runs(url, runs, backfill_id=backfill_id, location=modes.select(_offline()).location)
    except backfills.BackfillError as exc:
        raise click.ClickException(str(exc)) from exc
    sources = sorted({run.source for run in runs})
    _say(f"backfill {backfill_id}: {len(runs)} run(s) of up to {max(r.hours for r in runs)} hour(s) queued "
         f"({', '.join(sources)}); {backfills.runs_url(url, backfill_id)}")
    return backfill_id


def _follow_runs(url: str, backfill_id: str, *, plan: progress.Plan, path: Path, meter: progress.Meter,
                 timeout_s: float) -> None:
    """Progress until every run of the backfill has finished, then the outcome; exit status 1 unless all
    succeeded."""
    from datafactory_assets.automation import backfill as backfills

    runs: list[dict] = []

    def poll() -> tuple[bool, str]:
        runs[:] = backfills.backfill_runs(url, backfill_id)
        finished = sum(r["status"] in backfills.RUN_DONE for r in runs)
        return finished == len(runs), f"runs: {finished} of {len(runs)} finished" + _waiting(runs)

    try:
        progress.follow(measure=lambda: progress.tally(path, plan), poll=poll, meter=meter, console=_console(),
                        timeout_s=timeout_s)
    except (TimeoutError, backfills.BackfillError, WarehouseLockedError) as exc:
        raise click.ClickException(f"backfill {backfill_id}: {exc}") from exc
    failed = [r["runId"] for r in runs if r["status"] != "SUCCESS"]
    _console().print(f"backfill {backfill_id} {'failed' if failed else 'succeeded'}: {len(runs)} run(s), "
                     f"{len(failed)} not successful{': ' + ', '.join(failed) if failed else ''}")
    if failed:
        raise SystemExit(1)


def _waiting(runs: list[dict]) -> str:
    """`, 1 queued (behind other runs of the instance)`: why a backfill shows no progress yet, when the instance's run
    queue is busy (a fresh platform's history fill)."""
    queued = sum(r["status"] in {"QUEUED", "NOT_STARTED"} for r in runs)
    return f", {queued} queued (behind other runs of the instance)" if queued else ""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--replay", "replays", multiple=True, metavar="SYMBOL=FILE",
              help="Serve SYMBOL's candles from a recorded JSON or CSV file, holes included.")
@click.option("--fault", "faults", multiple=True, metavar="VENUE:KIND[:ARG][@COUNT]", help="Inject a fault.")
@click.option("--budget", "budgets", multiple=True, metavar="VENUE[=AMOUNT]",
              help="Enforce a venue's request budget (its real one, or AMOUNT per its window): 429, then 418.")
@click.option("--price-offset", "offsets", multiple=True, metavar="VENUE=BPS",
              help="Serve every price of VENUE this many basis points off (e.g. okx=150).")
def emulator(host: str, port: int, replays: tuple[str, ...], faults: tuple[str, ...],
             budgets: tuple[str, ...], offsets: tuple[str, ...]) -> None:
    """Run the exchange emulator (Binance, OKX, Bybit, Kraken, Coinbase, Yahoo, CoinGecko dialects) on HOST:PORT."""
    from datafactory_assets.emulator.offsets import parse_offset_arg
    from datafactory_assets.emulator.server import VENUES, parse_replay_arg, serve

    try:
        replay = dict(parse_replay_arg(text) for text in replays)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--replay") from exc
    try:
        limits = {venue: int(amount) if amount else None
                  for venue, _, amount in (text.partition("=") for text in budgets)}
    except ValueError as exc:
        raise click.BadParameter(f"{budgets}: write VENUE or VENUE=AMOUNT", param_hint="--budget") from exc
    try:
        price_offsets = dict(parse_offset_arg(text, venues=VENUES) for text in offsets)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--price-offset") from exc
    serve(host, port, replay, list(faults), budgets=limits, price_offsets=price_offsets)


@main.command()
@click.option("--offline", is_flag=True, default=lambda: modes.offline_requested(os.environ),
              help="Run against the local exchange emulator instead of the real venues, in a Dagster home, "
                   "warehouse and code location of its own (also: DATAFACTORY_OFFLINE=1).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3000, show_default=True, type=int)
@click.option("--profile", default=lambda: os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE,
              type=click.Choice(sorted(TEMPLATES)), show_default=f"{PROFILE_ENV} or {DEFAULT_PROFILE}",
              help="Instance profile: embedded (SQLite) or production (PostgreSQL, queued runs; docs/production.md).")
def up(offline: bool, host: str, port: int, profile: str) -> None:
    """Start the platform: Dagster webserver and daemon, hourly schedule on."""
    from datafactory_assets.launcher import run_platform

    load_settings()  # a broken configuration is one line here, not a platform whose code location cannot load
    mode = modes.select(offline or _offline())
    home = modes.dagster_home(mode, os.environ)
    try:
        raise SystemExit(run_platform(mode=mode, host=host, port=port, dagster_home=home, profile=profile))
    except (ProfileError, modes.ModeError) as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option("--refresh", is_flag=True, help="Rank the venue's pairs now and rewrite the cache file.")
def universe(refresh: bool) -> None:
    """The [universe] of datafactory.toml: its cached ranking, or with --refresh, a new one from the venue."""
    import ccxt

    from datafactory_assets.settings import is_symbol, load_universe_spec
    from datafactory_assets.universe import (UniverseError, cached_coin_ids, cached_symbols, resolve,
                                             resolve_coin_ids, write_cache)

    try:
        spec = load_universe_spec()
        if refresh:
            emulator_url = (os.environ.get("DATAFACTORY_EMULATOR_URL") or "").rstrip("/") or None
            ranked = resolve(spec, emulator_url=emulator_url, well_formed=is_symbol)
            coin_ids = resolve_coin_ids(spec, ranked, emulator_url=emulator_url,
                                        api_key=os.environ.get("DATAFACTORY_COINGECKO_API_KEY"))
            write_cache(spec, ranked, source=emulator_url or spec.venue, coin_ids=coin_ids)
        symbols, coins = cached_symbols(spec), cached_coin_ids(spec)
    except (ConfigError, UniverseError) as exc:
        raise click.ClickException(str(exc)) from exc
    except ccxt.BaseError as exc:
        raise click.ClickException(f"{spec.venue} could not be asked for its pairs: {type(exc).__name__}: {exc}")
    click.echo(f"{len(symbols)} {spec.quote} pairs of {spec.venue} in {spec.cache_path}: "
               + ", ".join(symbols[:10]) + (" ..." if len(symbols) > 10 else ""))
    click.echo(coins.summary())


if __name__ == "__main__":
    main()
