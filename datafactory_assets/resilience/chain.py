"""The failover chain: a symbol's sources, asked in order for a whole window until one serves it validly.

A window is served whole by one source, so a partition never mixes venues; the result says which source served
and why each earlier one did not. A source is skipped without a request when its breaker is open, it is banned,
or it cannot reach that far back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from datafactory_assets.resilience.guard import SourceGuard
from datafactory_assets.sources.base import ErrorKind, RequestRecord, SourceError, SourceUnavailableError
from datafactory_assets.sources.ccxt_source import CcxtCandleSource


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


class ChainExhaustedError(SourceError):
    """No source in the chain served the window; `failures` says why for each, `violations` holds bad data found."""

    def __init__(self, failures: list[SourceFailure], requests: list[RequestRecord], violations: list):
        super().__init__("no source served the window: " + "; ".join(map(str, failures)),
                         kind=ErrorKind.TRANSIENT, requests=requests)
        self.failures = failures
        self.violations = violations


@dataclass(frozen=True)
class ChainMember:
    source: CcxtCandleSource
    guard: SourceGuard


class FailoverChain:
    """`fetch` returns the first valid answer among the members; `validate(frame)` lists the problems of one."""

    def __init__(self, members: Sequence[ChainMember], *, validate: Callable[[pl.DataFrame], list]):
        self.members = list(members)
        self.validate = validate

    def fetch(self, symbol: str, *, start: datetime, end: datetime, timeframe: str) -> ChainResult:
        failures: list[SourceFailure] = []
        requests: list[RequestRecord] = []
        violations: list = []
        empty: ChainResult | None = None
        retries_before = {m.source.name: m.guard.retries for m in self.members}
        for member in self.members:
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
            retries = sum(m.guard.retries - retries_before[m.source.name] for m in self.members)
            result = ChainResult(frame=fetched.frame, source=name, requests=requests, failures=list(failures),
                                 retries=retries)
            if not fetched.frame.is_empty():
                return result
            empty = empty or result
            failures.append(SourceFailure(name, "empty", "no candles in the window"))
        if empty is not None and not violations:
            empty.failures, empty.requests = failures, requests
            return empty
        raise ChainExhaustedError(failures, requests, violations)
