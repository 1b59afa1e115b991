"""The failover chain: a symbol's sources, asked in order for a window until one serves it validly.

The first valid answer serves the window. When it lacks candles, the later sources are asked for the same window and
only the missing candles are taken from them, so a venue's holes do not become ours; every row keeps its own
`source` and the result says who filled what. A source is skipped without a request when its breaker is open, it
is banned, or it cannot reach that far back.

When every member has answered (or cannot have the window at all) the candles still missing are confirmed holes:
the venues have no candle there, and asking again is pointless until something changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from datafactory_assets.frames import empty_candles
from datafactory_assets.resilience.guard import SourceGuard
from datafactory_assets.sources.base import (
    CandleSource,
    ErrorKind,
    FetchResult,
    RequestRecord,
    SourceError,
    SourceUnavailableError,
)


@dataclass(frozen=True)
class SourceFailure:
    """Why one source did not serve the window."""

    source: str
    kind: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source} ({self.kind}): {self.reason}"


@dataclass
class ChainResult:
    """The window's candles, who served them, who failed and how much it took."""

    frame: pl.DataFrame
    source: str
    requests: list[RequestRecord]
    failures: list[SourceFailure] = field(default_factory=list)
    passed_over: list[SourceFailure] = field(default_factory=list)  # cannot serve such a window at all: no failure
    retries: int = 0
    filled: dict[str, int] = field(default_factory=dict)
    quote_notes: list[str] = field(default_factory=list)  # sources that served or filled in another quote currency
    holes_confirmed: bool = False  # every member answered (or cannot have the window): what is missing, none has
    consulted: list[str] = field(default_factory=list)  # members that answered or can never have the window


class ChainExhaustedError(SourceError):
    """No source in the chain served the window; `failures` says why for each, `violations` holds bad data found."""

    def __init__(self, failures: list[SourceFailure], requests: list[RequestRecord], violations: list):
        super().__init__("no source served the window: " + "; ".join(map(str, failures)),
                         kind=ErrorKind.TRANSIENT, requests=requests)
        self.failures = failures
        self.violations = violations


@dataclass
class _Attempt:
    """What one `fetch` has learnt so far, across the members it asked."""

    retries_before: dict[str, int]
    failures: list[SourceFailure] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)
    violations: list = field(default_factory=list)
    empty_from: str | None = None
    undecided: bool = False  # a member failed in a way that asking again could change
    consulted: list[str] = field(default_factory=list)
    passed_over: list[SourceFailure] = field(default_factory=list)

    def fail(self, source: str, kind: str, reason: str, *, final: bool = False) -> None:
        """Record why `source` did not serve; `final` when asking again cannot change its answer."""
        self.failures.append(SourceFailure(source, kind, reason))
        self.undecided = self.undecided or not final
        if final and source not in self.consulted:
            self.consulted.append(source)

    def pass_over(self, source: str, reason: str, *, final: bool) -> None:
        """Record a source that cannot serve such a window at all (not a failure: nothing went wrong)."""
        self.passed_over.append(SourceFailure(source, "passed over", reason))
        self.undecided = self.undecided or not final
        if final:
            self.consulted.append(source)


@dataclass(frozen=True)
class ChainMember:
    source: CandleSource
    guard: SourceGuard


class FailoverChain:
    """`fetch` returns the first valid answer among the members; `validate(frame)` lists the problems of one."""

    def __init__(self, members: Sequence[ChainMember], *, validate: Callable[[pl.DataFrame], list]):
        self.members = list(members)
        self.validate = validate

    def fetch(self, symbol: str, *, start: datetime, end: datetime, timeframe: str,
              expected_rows: int | None = None) -> ChainResult:
        """The window from the first source that serves it validly, its holes filled from the later ones."""
        attempt = _Attempt(retries_before={m.source.name: m.guard.retries for m in self.members})
        served: ChainResult | None = None
        for member in self.members:
            if served is not None and (expected_rows is None or served.frame.height >= expected_rows):
                break
            fetched = self._ask(member, attempt, symbol=symbol, start=start, end=end, timeframe=timeframe)
            if fetched is None:
                continue
            if fetched.frame.is_empty():
                attempt.empty_from = attempt.empty_from or member.source.name
                attempt.fail(member.source.name, "empty", "no candles in the window", final=True)
            elif served is None:
                served = ChainResult(frame=fetched.frame, source=member.source.name, requests=attempt.requests)
                self._note_quote(served, member, symbol)
            else:
                self._fill(served, fetched.frame, member, symbol)
        if served is not None and served.filled and self.validate(served.frame):
            attempt.fail(", ".join(served.filled), str(ErrorKind.BROKEN), "filled candles disagree with "
                         f"{served.source}'s; stored {served.source}'s alone")
            served.frame = served.frame.filter(pl.col("source") == served.source)
            served.filled, served.quote_notes = {}, served.quote_notes[:1]
        if served is None and (attempt.violations or attempt.empty_from is None):
            raise ChainExhaustedError(attempt.failures + attempt.passed_over, attempt.requests, attempt.violations)
        result = served or ChainResult(frame=empty_candles(), source=attempt.empty_from, requests=attempt.requests)
        result.requests, result.failures, result.passed_over = attempt.requests, attempt.failures, attempt.passed_over
        result.retries = sum(m.guard.retries - attempt.retries_before[m.source.name] for m in self.members)
        result.holes_confirmed, result.consulted = not attempt.undecided, attempt.consulted
        return result

    def _ask(self, member: ChainMember, attempt: _Attempt, *, symbol: str, start: datetime, end: datetime,
             timeframe: str) -> FetchResult | None:
        """One source's valid answer for the window, or None with the reason recorded in `attempt`."""
        name = member.source.name
        unservable = member.source.cannot_serve(start, timeframe)
        if unservable:
            attempt.pass_over(name, unservable, final=not member.source.publishes_later)
            return None
        blocked = member.guard.blocked_reason()
        if blocked:
            attempt.fail(name, "skipped", blocked)
            return None
        try:
            fetched = member.source.fetch_range(symbol, start=start, end=end, timeframe=timeframe,
                                                guard=member.guard)
        except SourceError as exc:
            attempt.requests.extend(exc.requests)
            kind = "skipped" if isinstance(exc, SourceUnavailableError) else str(exc.kind)
            attempt.fail(name, kind, str(exc), final=exc.kind is ErrorKind.PERMANENT)
            return None
        attempt.requests.extend(fetched.requests)
        problems = self.validate(fetched.frame)
        if problems:
            attempt.violations = attempt.violations or problems
            attempt.fail(name, str(ErrorKind.BROKEN), "invalid candles: " + "; ".join(map(str, problems)))
            return None
        attempt.consulted.append(name)
        return fetched

    def _fill(self, served: ChainResult, frame: pl.DataFrame, member: ChainMember, symbol: str) -> None:
        """Take from a later source only the candles the served answer lacks."""
        extra = frame.join(served.frame.select("ts"), on="ts", how="anti")
        if extra.height:
            served.frame = pl.concat([served.frame, extra]).sort("ts")
            served.filled[member.source.name] = extra.height
            self._note_quote(served, member, symbol)

    @staticmethod
    def _note_quote(result: ChainResult, member: ChainMember, symbol: str) -> None:
        note = member.source.quote_note(symbol)
        if note:
            result.quote_notes.append(note)
