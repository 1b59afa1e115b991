"""`datafactory backfill`: the hours of a range the warehouse lacks, asked of the running platform as range runs,
and their progress followed until they finish."""

from __future__ import annotations

import time
from pathlib import Path

import click

from datafactory_assets import modes, progress
from datafactory_assets.cli.connect import connect, offline_chosen
from datafactory_assets.cli.output import console, say
from datafactory_assets.settings import load_settings
from datafactory_assets.warehouse import WarehouseLockedError


@click.command()
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
            with connect(settings.warehouse_path, read_only=True) as conn:
                plan = backfills.missing_ranges(conn, selected, start, end)
        stored_before = progress.tally(settings.warehouse_path, plan) if wait else None
    except (ValueError, FileNotFoundError, WarehouseLockedError) as exc:
        raise click.ClickException(str(exc)) from exc
    # a perpetual's hours count once per dataset it collects (`series.series_of`): the plan has every series
    window, asked = len(plan) * progress.hour_count([(start, end)]), sum(map(progress.hour_count, plan.values()))
    span = f"{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC"
    counted = f"{len(selected)} symbol(s)" if len(plan) == len(selected) else \
        f"{len(plan)} series of {len(selected)} symbol(s)"
    if not asked:
        console().print(f"nothing to backfill: all {window} hour(s) of {counted}, {span}, are "
                        "stored complete (--refetch fetches them again)")
        return
    console().print(f"{asked} of {window} hour(s) to fetch, {span}; {window - asked} already stored complete")
    events = sorted({s.dataset.unit for s, ranges in plan.items() if ranges and s.counts_events})
    if events:
        say(f"{', '.join(events)}s: an hour counts as stored once every event due in it on the venue's "
            "interval is, and before the first stored event (no interval known yet) the whole span is asked; "
            "progress counts their hours and events stored, with no total and no ETA")
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
        backfills.launch_runs(url, runs, backfill_id=backfill_id,
                              location=modes.select(offline_chosen()).location)
    except backfills.BackfillError as exc:
        raise click.ClickException(str(exc)) from exc
    sources = sorted({run.source for run in runs})
    say(f"backfill {backfill_id}: {len(runs)} run(s) of up to {max(r.hours for r in runs)} hour(s) queued "
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
        progress.follow(measure=lambda: progress.tally(path, plan), poll=poll, meter=meter, console=console(),
                        timeout_s=timeout_s)
    except (TimeoutError, backfills.BackfillError, WarehouseLockedError) as exc:
        raise click.ClickException(f"backfill {backfill_id}: {exc}") from exc
    failed = [r["runId"] for r in runs if r["status"] != "SUCCESS"]
    console().print(f"backfill {backfill_id} {'failed' if failed else 'succeeded'}: {len(runs)} run(s), "
                    f"{len(failed)} not successful{': ' + ', '.join(failed) if failed else ''}")
    if failed:
        raise SystemExit(1)


def _waiting(runs: list[dict]) -> str:
    """`, 1 queued (behind other runs of the instance)`: why a backfill shows no progress yet, when the instance's run
    queue is busy (a fresh platform's history fill)."""
    queued = sum(r["status"] in {"QUEUED", "NOT_STARTED"} for r in runs)
    return f", {queued} queued (behind other runs of the instance)" if queued else ""
