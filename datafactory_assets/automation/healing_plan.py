"""Which incomplete partitions the healing sensor asks for on one tick, and what it remembers between ticks.

Kept free of Dagster's sensor machinery so the policy (cap per tick, order, back-off, giving up) is plain data in,
plain data out. A partition is keyed `SYMBOL|partition_key`; the memory is the sensor's cursor, so it survives
daemon restarts and costs nothing to store elsewhere.
"""

from __future__ import annotations

import bisect
import heapq
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from datafactory_assets.hourly import HOUR, PARTITION_FORMAT
from datafactory_assets.settings import HealingSettings

_ATTEMPTS, _DUE, _GAVE_UP = "attempts", "due", "gave_up"
_END_OF_TIME = datetime.max
HourRange = tuple[datetime, datetime]  # [first, stop): the hour starts first, first + 1h, ... before stop


@dataclass
class HealingMemory:
    """Per partition still incomplete: how often a run was asked for it, when it may be asked again, and the
    partitions given up on (reported once, then left alone until they become complete some other way)."""

    attempts: dict[str, int] = field(default_factory=dict)
    due: dict[str, float] = field(default_factory=dict)
    gave_up: set[str] = field(default_factory=set)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> HealingMemory:
        if not cursor:
            return cls()
        raw = json.loads(cursor)
        return cls(attempts=dict(raw[_ATTEMPTS]), due=dict(raw[_DUE]), gave_up=set(raw[_GAVE_UP]))

    def to_cursor(self) -> str:
        return json.dumps({_ATTEMPTS: self.attempts, _DUE: self.due, _GAVE_UP: sorted(self.gave_up)},
                          separators=(",", ":"))


@dataclass(frozen=True)
class HealingRun:
    """One run to ask for: a contiguous range of one symbol's partitions."""

    symbol: str
    partition_keys: tuple[str, ...]


@dataclass(frozen=True)
class HealingTick:
    """What one tick decided."""

    runs: list[HealingRun]
    gave_up: list[str]  # partition keys (`SYMBOL|key`) given up on this tick
    memory: HealingMemory


def partition_key(hour: datetime) -> str:
    """The hourly partition key of the hour starting at `hour`, as Dagster's HourlyPartitionsDefinition spells it."""
    return hour.strftime(PARTITION_FORMAT)


def partition_id(symbol: str, key: str) -> str:
    return f"{symbol}|{key}"


def plan_tick(incomplete: Mapping[str, Sequence[HourRange]], *, in_flight: Iterable[str], memory: HealingMemory,
              now: float, settings: HealingSettings, partitions_per_run: int,
              run_group: Callable[[str], str] = str) -> HealingTick:
    """Runs for the incomplete hours (per symbol, ranges `[first, stop)` of hour starts, oldest first) that no run
    is busy with, that are due, and that have attempts left: at most `settings.max_runs_per_tick` runs, each over at
    most `partitions_per_run` adjacent hours, oldest or newest first as configured.

    Only the hours remembered or busy are looked at one by one; the ranges are cut around them and split into runs
    arithmetically, and only the runs asked for are spelled out, so years of missing history cost no more than a
    day of it.

    Symbols with the same `run_group` (their primary source, for the sensor) that need the same hours share one run,
    so `max_runs_per_tick` counts those shared runs: filling a fresh universe asks for every symbol's newest month in
    one run rather than one symbol's per run."""
    busy = set(in_flight)
    ranges = {symbol: sorted(spans) for symbol, spans in incomplete.items()}
    memory = HealingMemory(
        attempts={p: n for p, n in memory.attempts.items() if _incomplete(p, ranges)},
        due={p: t for p, t in memory.due.items() if _incomplete(p, ranges)},
        gave_up={p for p in memory.gave_up if _incomplete(p, ranges)},
    )
    gave_up = []
    for pid in sorted(memory.attempts):  # only hours asked for before can have run out of attempts
        if pid not in busy and pid not in memory.gave_up and memory.attempts[pid] >= settings.max_attempts:
            memory.gave_up.add(pid)
            gave_up.append(pid)
    skipped = _hours_by_symbol(busy | memory.gave_up | {p for p, t in memory.due.items() if t > now})
    newest = settings.order == "newest"
    candidates = heapq.merge(
        *(_chunks(symbol, _cut(spans, sorted(skipped.get(symbol, ()))), partitions_per_run, newest=newest)
          for symbol, spans in ranges.items()),
        key=lambda chunk: chunk[1], reverse=newest)
    runs, shared = [], set()
    for symbol, first, count in candidates:
        group = (run_group(symbol), first, count)
        if group not in shared and len(shared) == settings.max_runs_per_tick:
            break
        shared.add(group)
        keys = tuple(partition_key(first + i * HOUR) for i in range(count))
        runs.append(HealingRun(symbol, keys))
        for key in keys:
            pid = partition_id(symbol, key)
            memory.attempts[pid] = memory.attempts.get(pid, 0) + 1
            memory.due[pid] = now + min(settings.backoff_s * 2 ** (memory.attempts[pid] - 1), settings.max_backoff_s)
    return HealingTick(runs=runs, gave_up=gave_up, memory=memory)


def _hour_of(key: str) -> datetime:
    """`2025-01-01-05:00` -> its hour; by hand, as strptime is slow over the thousands of partitions a backfill
    keeps busy."""
    return datetime(int(key[0:4]), int(key[5:7]), int(key[8:10]), int(key[11:13]))


def _incomplete(pid: str, ranges: Mapping[str, Sequence[HourRange]]) -> bool:
    symbol, key = pid.split("|", 1)
    spans = ranges.get(symbol, ())
    hour = _hour_of(key)
    at = bisect.bisect_right(spans, (hour, _END_OF_TIME)) - 1
    return at >= 0 and spans[at][0] <= hour < spans[at][1]


def _hours_by_symbol(pids: Iterable[str]) -> dict[str, set[datetime]]:
    hours: dict[str, set[datetime]] = defaultdict(set)
    for pid in pids:
        symbol, key = pid.split("|", 1)
        hours[symbol].add(_hour_of(key))
    return hours


def _cut(spans: Sequence[HourRange], skipped: Sequence[datetime]) -> list[HourRange]:
    """The ranges without the skipped hours (sorted): a run covers a range, and a range must neither refetch
    complete hours nor swallow hours another run is busy with."""
    blocks = []
    for first, stop in spans:
        lo, hi = bisect.bisect_left(skipped, first), bisect.bisect_left(skipped, stop)
        for hour in skipped[lo:hi]:
            if first < hour:
                blocks.append((first, hour))
            first = hour + HOUR
        if first < stop:
            blocks.append((first, stop))
    return blocks


def _chunks(symbol: str, blocks: Sequence[HourRange], size: int, *,
            newest: bool) -> Iterator[tuple[str, datetime, int]]:
    """(symbol, first hour, hours) of each run: every block split into runs of at most `size` from its oldest hour,
    yielded oldest first, or newest first."""
    for first, stop in reversed(blocks) if newest else blocks:
        hours = (stop - first) // HOUR
        offsets = range(0, hours, size)
        for offset in reversed(offsets) if newest else offsets:
            yield symbol, first + offset * HOUR, min(size, hours - offset)
