"""Which incomplete partitions the healing sensor asks for on one tick, and what it remembers between ticks.

Kept free of Dagster's sensor machinery so the policy (cap per tick, order, back-off, giving up) is plain data in,
plain data out. A partition is keyed `SYMBOL|partition_key`; the memory is the sensor's cursor, so it survives
daemon restarts and costs nothing to store elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from datafactory_assets.hourly import PARTITION_FORMAT
from datafactory_assets.settings import HealingSettings

_ATTEMPTS, _DUE, _GAVE_UP = "attempts", "due", "gave_up"
_HOUR = timedelta(hours=1)


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


def plan_tick(incomplete: Mapping[str, Sequence[datetime]], *, in_flight: Iterable[str], memory: HealingMemory,
              now: float, settings: HealingSettings, partitions_per_run: int) -> HealingTick:
    """Runs for the incomplete hours (per symbol, oldest first) that no run is busy with, that are due, and that
    have attempts left: at most `settings.max_runs_per_tick` runs, each over at most `partitions_per_run` adjacent
    hours, oldest or newest first as configured."""
    busy = set(in_flight)
    still_incomplete = {partition_id(s, partition_key(h)) for s, hours in incomplete.items() for h in hours}
    memory = HealingMemory(
        attempts={p: n for p, n in memory.attempts.items() if p in still_incomplete},
        due={p: t for p, t in memory.due.items() if p in still_incomplete},
        gave_up=memory.gave_up & still_incomplete,
    )
    gave_up = []
    for pid in sorted(still_incomplete - busy - memory.gave_up):
        if memory.attempts.get(pid, 0) >= settings.max_attempts:
            memory.gave_up.add(pid)
            gave_up.append(pid)
    chunks = [
        (symbol, chunk)
        for symbol, hours in incomplete.items()
        for chunk in _adjacent_chunks([h for h in hours if _wanted(partition_id(symbol, partition_key(h)), busy,
                                                                     memory, now)], partitions_per_run)
    ]
    chunks.sort(key=lambda item: item[1][0], reverse=settings.order == "newest")
    runs = []
    for symbol, chunk in chunks[: settings.max_runs_per_tick]:
        keys = tuple(partition_key(h) for h in chunk)
        runs.append(HealingRun(symbol, keys))
        for key in keys:
            pid = partition_id(symbol, key)
            memory.attempts[pid] = memory.attempts.get(pid, 0) + 1
            memory.due[pid] = now + min(settings.backoff_s * 2 ** (memory.attempts[pid] - 1), settings.max_backoff_s)
    return HealingTick(runs=runs, gave_up=gave_up, memory=memory)


def _wanted(pid: str, busy: set[str], memory: HealingMemory, now: float) -> bool:
    return pid not in busy and pid not in memory.gave_up and memory.due.get(pid, 0.0) <= now


def _adjacent_chunks(hours: Sequence[datetime], size: int) -> list[list[datetime]]:
    """Sorted hours split where they are not adjacent and into runs of at most `size`: a run covers a range, and a
    range must neither refetch complete hours nor swallow hours another run is busy with."""
    chunks: list[list[datetime]] = []
    for hour in sorted(hours):
        if chunks and hour - chunks[-1][-1] == _HOUR and len(chunks[-1]) < size:
            chunks[-1].append(hour)
        else:
            chunks.append([hour])
    return chunks
