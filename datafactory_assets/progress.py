"""How far a fill of history has come, read from the warehouse (the truth about what is stored, opened read-only),
shown so a person reads it at a glance: a live rich display in a terminal, plain periodic lines in a pipe or CI log.

`datafactory backfill --wait` follows the hours it asked for; `datafactory up` prints one summary line of the
configured history (`report_history`) while it changes. Range runs commit a whole range at once, so hours done move
in steps of a run; candles per second are averaged since the first reading, which is what an ETA needs.

Funding events come at intervals the venue states per instrument, so no count of them is expected before they are
fetched: their series counts hours done (asked hours holding every due event, by the query the backfill planned
with) and the events stored so far, with no rows left and no ETA; the sum of several series counts the rows and ETA
of those with a fixed count only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

import duckdb
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from datafactory_assets.datasets import SPOT_CANDLES
from datafactory_assets.hourly import HOUR
from datafactory_assets.series import Series, by_dataset, incomplete_ranges
from datafactory_assets.settings import ConfigError, load_settings
from datafactory_assets.warehouse import WarehouseLockedError, connection, queries
from datafactory_assets.warehouse.schema import SchemaError

Plan = Mapping[Series, Sequence[tuple[datetime, datetime]]]  # per symbol's dataset, (first, last) hours, inclusive


@dataclass(frozen=True)
class Tally:
    """One series' (or all series') share of a fill: hours asked for, how many of them are held complete, rows
    stored in the span of those hours (`candles`, whatever the dataset), and rows still to come, each what `unit`
    names (`Dataset.unit`; "row" for a sum over datasets of several units). `left` is None for events at the
    venue's intervals (funding), whose count is not known until they are fetched."""

    name: str
    hours: int
    done: int
    candles: int
    left: int | None
    unit: str = SPOT_CANDLES.unit


def hour_count(ranges: Sequence[tuple[datetime, datetime]]) -> int:
    """How many hours the inclusive (first, last) ranges hold."""
    return sum((last - first) // HOUR + 1 for first, last in ranges)


def tally(path: Path, plan: Plan, *, lock_timeout_s: float = 30) -> list[Tally]:
    """Each series' tally of the hours `plan` names, from the warehouse at `path` (nothing held when it does not
    exist yet): two queries per dataset for every symbol together, and hours counted by range arithmetic, never one
    by one."""
    if not Path(path).exists():
        return [Tally(s.name, hour_count(r), 0, 0, _rows_left(s, hour_count(r)), s.dataset.unit)
                for s, r in plan.items()]
    asked = {s: ranges for s, ranges in plan.items() if ranges}
    found: dict[Series, tuple[list, int]] = {}
    with connection.connect(path, read_only=True, lock_timeout_s=lock_timeout_s) as conn:
        for members in by_dataset(asked).values():
            spans = [(s.symbol, asked[s][0][0], asked[s][-1][1] + HOUR) for s in members]
            dataset = members[0].dataset
            incomplete = incomplete_ranges(conn, members, starts=[first for _, first, _ in spans],
                                           until=max(until for _, _, until in spans))
            stored = queries.stored_candles(conn, spans, dataset=dataset)
            found.update({s: (incomplete.get(s.symbol, []), stored.get(s.symbol, 0)) for s in members})
    return [_series_tally(s, ranges, *found.get(s, ([], 0))) for s, ranges in plan.items()]


def total(tallies: Sequence[Tally]) -> Tally:
    """The sum of the series' tallies, named `all`: every series' hours; the rows stored and left of those with a
    known count (funding's events are left out beside candles: no ETA can count rows nobody knows), in their unit
    when they share one."""
    counted = [t for t in tallies if t.left is not None] or list(tallies)
    units = {t.unit for t in counted}
    left = None if any(t.left is None for t in counted) else sum(t.left for t in counted)
    return Tally("all", sum(t.hours for t in tallies), sum(t.done for t in tallies), sum(t.candles for t in counted),
                 left, units.pop() if len(units) == 1 else "row")


def _series_tally(series: Series, ranges: Sequence[tuple[datetime, datetime]],
                  incomplete: Sequence[tuple[datetime, datetime]], stored: int) -> Tally:
    """`ranges` (inclusive hours) against the warehouse's incomplete `[first, stop)` ranges (naive UTC)."""
    hours = hour_count(ranges)
    missing = sum(max((min(last + HOUR, stop.replace(tzinfo=UTC)) - max(first, gap.replace(tzinfo=UTC))) // HOUR, 0)
                  for first, last in ranges for gap, stop in incomplete)
    return Tally(series.name, hours, hours - missing, stored, _rows_left(series, missing), series.dataset.unit)


def _rows_left(series: Series, hours: int) -> int | None:
    """The rows `hours` incomplete hours still lack; None for events at the venue's intervals (not known)."""
    return None if series.counts_events else hours * series.rows_per_hour


class Meter:
    """Rows stored since the first reading (take it before launching the work), per second, and the time left
    at that pace."""

    def __init__(self, first: Sequence[Tally], now: float):
        self.began = now
        self.first = {t.name: t.candles for t in [*first, total(first)]}

    def gained(self, tally: Tally) -> int:
        return max(tally.candles - self.first.get(tally.name, tally.candles), 0)

    def rate(self, tally: Tally, now: float) -> float:
        return self.gained(tally) / max(now - self.began, 1e-9)

    def describe(self, tally: Tally, now: float) -> str:
        """`240/720 h (33%), 12,345 candles/s, ETA 0:01:10`: what one line or one bar says, in the tally's unit. With
        no count left known (funding), the rows stored so far instead of an ETA: `23/24 h (96%), 2 funding events
        stored, 0 funding events/s, no ETA (funding events come at the venue's intervals)`."""
        rate = self.rate(tally, now)
        percent = 100 * tally.done / tally.hours if tally.hours else 100
        hours = f"{tally.done:,}/{tally.hours:,} h ({percent:.0f}%)"
        if tally.left is None:
            eta = "ETA done" if tally.done >= tally.hours else f"no ETA ({tally.unit}s come at the venue's intervals)"
            return f"{hours}, {tally.candles:,} {tally.unit}s stored, {rate:,.0f} {tally.unit}s/s, {eta}"
        eta = "done" if tally.done >= tally.hours else _duration(tally.left / rate) if rate else "-"
        return f"{hours}, {rate:,.0f} {tally.unit}s/s, ETA {eta}"


def rows(tallies: Sequence[Tally]) -> list[Tally]:
    """Each symbol, then their sum when there are several."""
    return [*tallies, total(tallies)] if len(tallies) > 1 else list(tallies)


def follow(*, measure: Callable[[], list[Tally]], poll: Callable[[], tuple[bool, str]], meter: Meter,
           console: Console, timeout_s: float, every_s: float = 1.0, line_every_s: float = 10.0) -> list[Tally]:
    """Read `poll()` (finished?, a note such as the runs' states) and `measure()` every `every_s` until finished:
    live bars per symbol and summed in a terminal, else one plain summed line every `line_every_s`; then one line of
    totals per symbol. A reading the warehouse lock kept waiting too long is skipped; TimeoutError after
    `timeout_s`."""
    deadline, printed, tallies = time.monotonic() + timeout_s, None, None
    with _LiveView(console) if console.is_terminal else nullcontext() as live:
        while True:
            finished, note = poll()
            try:
                tallies, now = measure(), time.monotonic()
            except WarehouseLockedError:  # a writer held the file past a reader's patience: the next reading tells
                now = time.monotonic()
            if tallies is not None and live is not None:
                live.show(tallies, meter, now, note)
            elif tallies is not None and (printed is None or finished or now - printed >= line_every_s):
                console.print(f"{datetime.now(UTC):%H:%M:%S} {meter.describe(total(tallies), now)}; {note}",
                              markup=False, highlight=False)
                printed = now
            if finished and tallies is not None:
                break
            if now > deadline:
                raise TimeoutError(f"still running after {timeout_s:.0f}s ({note})")
            time.sleep(every_s)
    for tally in rows(tallies):
        console.print(f"{tally.name}: {tally.done:,} of {tally.hours:,} hour(s) complete, {meter.gained(tally):,} "
                      f"{tally.unit}(s) stored in {_duration(now - meter.began)} "
                      f"({meter.rate(tally, now):,.0f} {tally.unit}s/s)",
                      markup=False, highlight=False)
    return tallies


def report_history(env: Mapping[str, str], *, out: TextIO, every_s: float = 60.0,
                   retry_s: float = 2.0) -> threading.Event:
    """While the platform runs, one line every `every_s` when the configured history changed: the summary `datafactory
    status` ends with (candles held of those expected from each symbol's start, or listing, to the last closed hour;
    missing and not yet fetched apart) and, from the second line on, candles stored per second since the previous line.
    Set the returned event to stop it. A warehouse not created yet, or held by a writer too long, skips a line (until
    the first line, it is looked at again every `retry_s`: asking again at once kept a core busy until a backfill's
    first run created the warehouse, 5-8 CPU-s of a backfill); a configuration that does not load prints nothing
    (Dagster's code location names the error)."""
    stop = threading.Event()

    def report() -> None:
        try:
            settings = load_settings(env=dict(env))
        except ConfigError:
            return
        last: tuple[float, queries.Completeness] | None = None
        pause = 0.0
        while not stop.wait(pause):
            pause = every_s
            try:
                with connection.connect(settings.warehouse_path, read_only=True, lock_timeout_s=30) as conn:
                    frame = queries.coverage_of_every_dataset(conn, settings.symbols)
                history, unit = queries.Completeness.of(frame), queries.unit_of(frame)
            except (FileNotFoundError, WarehouseLockedError, SchemaError, duckdb.Error):
                if last is None:
                    pause = min(every_s, retry_s)
                continue
            now = time.monotonic()
            if last is None or history != last[1]:  # the first line has no earlier reading to measure a pace by
                rate = f"; {max((history.rows - last[1].rows) / (now - last[0]), 0):,.0f} {unit}s/s" if last else ""
                print(f"history: {history.summary(unit)}{rate}", file=out, flush=True)
            last = (now, history)

    threading.Thread(target=report, name="history-report", daemon=True).start()
    return stop


def _duration(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


class _LiveView:
    """One rich bar per symbol and one for their sum; the note (the runs' states) follows the last bar."""

    def __init__(self, console: Console):
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[text]}"),
                                 console=console)
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> _LiveView:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def show(self, tallies: Sequence[Tally], meter: Meter, now: float, note: str) -> None:
        shown = rows(tallies)
        for tally in shown:
            if tally.name not in self.tasks:
                self.tasks[tally.name] = self.progress.add_task(tally.name, total=max(tally.hours, 1), text="")
            text = meter.describe(tally, now) + (f"; {note}" if tally is shown[-1] else "")
            self.progress.update(self.tasks[tally.name], completed=tally.done, text=text)
