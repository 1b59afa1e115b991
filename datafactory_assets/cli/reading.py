"""The commands that read the warehouse and change nothing: status, health, gaps and revisions. None of them
imports Dagster (building the definitions would cost a person seconds a command)."""

from __future__ import annotations

import click
import polars as pl

from datafactory_assets.cli.connect import connect
from datafactory_assets.cli.options import parse_moment
from datafactory_assets.cli.output import console, print_frame, say
from datafactory_assets.datasets import DATASETS, SPOT_CANDLES, Dataset
from datafactory_assets.hourly import open_hour
from datafactory_assets.settings import Settings, load_settings
from datafactory_assets.warehouse import queries
from datafactory_assets.warehouse.schema import SchemaError

_STATUS_COLUMNS = ("symbol", "dataset", "counted_from", "from_ts", "expected", "rows", "confirmed_empty", "missing",
                   "not_fetched", "completeness_pct", "last_ts", "latest_source", "note")


@click.command()
def status() -> None:
    """Completeness per symbol and dataset it collects, from its configured start (or its listing, when the venue
    began later) to the last closed hour (or its delisting, which `note` dates): rows stored, confirmed empty, missing
    (asked, not served) and not yet fetched. A configured symbol never run shows 0%."""
    settings = load_settings()
    with connect(settings.warehouse_path, read_only=True) as conn:
        try:
            until = open_hour()  # the header's hour; a delisted pair's row counts to its delisting
            frame = queries.coverage_of_every_dataset(conn, settings.symbols, until=until)
        except SchemaError as exc:
            raise click.ClickException(str(exc)) from exc  # the warehouse's line named the file
    print_frame(frame.select(_STATUS_COLUMNS), f"Data coverage status, to {until:%Y-%m-%d %H:%M} UTC (the last "
                                              "closed hour)")
    per_dataset = frame.partition_by("dataset", maintain_order=True)
    for rows in per_dataset:  # one line per dataset, in its own unit: candles and funding events do not add up
        collecting = f" collecting {rows['dataset'][0]}" if len(per_dataset) > 1 else ""
        say(f"{rows['symbol'].n_unique()} symbol(s){collecting}: "
            f"{queries.Completeness.of(rows).summary(queries.unit_of(rows))}")


@click.command()
@click.option("--hourly", "hours", type=int, is_flag=False, flag_value=24, default=None, metavar="[HOURS]",
              help="Instead: per source and hour, the last HOURS hours with requests (default 24).")
def health(hours: int | None) -> None:
    """Per source: breaker state, success rate, p50/p95 latency and last error (last 24 hours)."""
    from datafactory_assets.resilience import breaker_states

    settings = load_settings()
    with connect(settings.warehouse_path, read_only=True) as conn:
        requests = queries.source_health(conn)
        hourly = queries.source_health_hourly(conn) if hours else None
    if hourly is not None:
        recent = hourly.filter(pl.col("hour").is_in(hourly["hour"].unique().sort(descending=True).head(hours)))
        if recent.is_empty():
            console().print("no source requests recorded yet")
            return
        print_frame(recent,
                    f"Source health per hour (UTC, the last {hours} hour(s) with requests)")
        return
    breakers = breaker_states(settings.state_path)
    if requests.is_empty() and breakers.is_empty():
        console().print("no source requests recorded yet")
        return
    table = breakers.join(requests, on="source", how="full", coalesce=True).with_columns(
        pl.col("breaker").fill_null("closed")).sort("source")
    print_frame(table.select("source", "breaker", "failures", "blocked_for_s", "requests", "success_pct", "p50_ms",
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


@click.command()
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
    with connect(settings.warehouse_path, read_only=True) as conn:
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
        say(f"no gaps between {span}{unstored_note}")
        return
    of = f" of {dataset.name}" if dataset is not SPOT_CANDLES else ""
    print_frame(frame, f"Gaps{of}{' in ' + symbol if symbol else ''}")
    say(f"{frame.height} gap(s), {frame['missing'].sum()} missing {unit}(s): "
        f"{frame['unconfirmed'].sum()} not yet confirmed, {frame['confirmed_empty'].sum()} confirmed "
        f"empty at every source{unstored_note}")


@click.command()
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
    moment = parse_moment(since, "--since")
    _collecting(settings, dataset, symbol)
    with connect(settings.warehouse_path, read_only=True) as conn:
        frame = queries.revisions(conn, symbol=symbol, since=moment, dataset=dataset)
    configured = sorted(s.symbol for s in settings.symbols)
    if frame.is_empty() and symbol is not None and symbol not in configured:
        raise click.ClickException(f"{symbol} is not configured in {settings.config_path}; configured: "
                                   f"{', '.join(configured)}")
    unit = dataset.unit
    if frame.is_empty():
        console().print(f"no revisions recorded{' for ' + symbol if symbol else ''}"
                        f"{' since ' + since if since else ''}: no stored {unit} was changed")
        return
    changes = [pl.when(pl.col(f"old_{c}").eq_missing(pl.col(f"new_{c}"))).then(_shown(f"old_{c}"))
               .otherwise(pl.format("{} -> {}", _shown(f"old_{c}"), _shown(f"new_{c}"))).alias(c)
               for c in ("source", *dataset.values)]
    print_frame(frame.head(limit).select(pl.col("revised_at").dt.truncate("1s"), "symbol", *dataset.row_keys,
                                         *changes, "run_id"),
                f"{unit.capitalize()} revisions{' of ' + symbol if symbol else ''} (UTC, newest first)")
    shown = f", the newest {limit} shown (--limit shows more)" if frame.height > limit else ""
    console().print(f"{frame.height} revision(s) of {frame['symbol'].n_unique()} symbol(s){shown}")


def _shown(column: str) -> pl.Expr:
    """A value as the revisions table shows it; a value the venue left out (funding's mark price) as `none`."""
    return pl.col(column).cast(pl.String).fill_null("none")
