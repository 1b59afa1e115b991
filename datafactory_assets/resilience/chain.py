"""The failover chain: a symbol's sources, asked in order for a window until one serves it validly.

The first valid answer serves the window. When it lacks candles, the later sources are asked for the same window and
only the missing candles are taken from them, so a venue's holes do not become ours; every row keeps its own
`source` and the result says who filled what. A source is skipped without a request when its breaker is open, it
is banned, or it cannot reach that far back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from datafactory_assets.resilience.guard import SourceGuard
from datafactory_assets.sources.base import CandleSource, ErrorKind, RequestRecord, SourceError, SourceUnavailableError


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
    retries: int = 0
    filled: dict[str, int] = field(default_factory=dict)
    quote_notes: list[str] = field(default_factory=list)  # sources that served or filled in another quote currency


class ChainExhaustedError(SourceError):
    """No source in the chain served the window; `failures` says why for each, `violations` holds bad data found."""

    def __init__(self, failures: list[SourceFailure], requests: list[RequestRecord], violations: list):
        super().__init__("no source served the window: " + "; ".join(map(str, failures)),
                         kind=ErrorKind.TRANSIENT, requests=requests)
        self.failures = failures
        self.violations = violations


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
        failures: list[SourceFailure] = []
        requests: list[RequestRecord] = []
        violations: list = []
        empty: ChainResult | None = None
        retries_before = {m.source.name: m.guard.retries for m in self.members}
        served: ChainResult | None = None
        for member in self.members:
            if served is not None and (expected_rows is None or served.frame.height >= expected_rows):
                break
            name = member.source.name
            reason = member.source.cannot_serve(start, timeframe) or member.guard.blocked_reason()
            if reason:
                failures.append(SourceFailure(name, "skipped", reason))
                continue
            try:
                fetched = member.source.fetch_range(symbol, start=start, end=end, timeframe=timeframe,
                                                    guard=member.guard)
            except SourceUnavailableError as exc:
                requests.extend(exc.requests)
                failures.append(SourceFailure(name, "skipped", str(exc)))
                continue
            except SourceError as exc:
                requests.extend(exc.requests)
                failures.append(SourceFailure(name, str(exc.kind), str(exc)))
                continue
            requests.extend(fetched.requests)
            problems = self.validate(fetched.frame)
            if problems:
                violations = violations or problems
                failures.append(SourceFailure(name, str(ErrorKind.BROKEN),
                                              "invalid candles: " + "; ".join(map(str, problems))))
                continue
            if fetched.frame.is_empty():
                empty = empty or ChainResult(frame=fetched.frame, source=name, requests=requests)
                failures.append(SourceFailure(name, "empty", "no candles in the window"))
            elif served is None:
                served = ChainResult(frame=fetched.frame, source=name, requests=requests, failures=list(failures))
                self._note_quote(served, member, symbol)
            else:
                extra = fetched.frame.join(served.frame.select("ts"), on="ts", how="anti")
                if extra.height:
                    served.frame = pl.concat([served.frame, extra]).sort("ts")
                    served.filled[name] = extra.height
                    self._note_quote(served, member, symbol)
        retries = sum(m.guard.retries - retries_before[m.source.name] for m in self.members)
        result = served or (empty if not violations else None)
        if result is None:
            raise ChainExhaustedError(failures, requests, violations)
        result.requests, result.retries = requests, retries
        result.failures = result.failures if served is not None else failures
        return result

    @staticmethod
    def _note_quote(result: ChainResult, member: ChainMember, symbol: str) -> None:
        note = member.source.quote_note(symbol)
        if note:
            result.quote_notes.append(note)
