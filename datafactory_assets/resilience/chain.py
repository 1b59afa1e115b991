"""The failover chain: a symbol's sources of one dataset, asked in order for a window until one serves it validly.

The first valid answer serves the window. When it lacks candles, the later sources are asked for the same window and
only the missing candles are taken from them, so a venue's holes do not become ours; every row keeps its own
`source` and the result says who filled what. A source is skipped without a request when its breaker is open, it
is banned, or it cannot reach that far back.

A hole needs evidence. When every member has answered (or cannot have the window at all), a candle still missing is
evidence of a hole only inside a span some answer vouches for (`FetchResult.spans`: between candles of the same
answer, or a whole verified archive file); `evidence` lists those spans per source. An answer without a single
candle is no evidence but a failure (a venue down or broken that answers `[]`), so it keeps every hole open, and a
window no member served a candle of fails the fetch: `PairNotListedError` when every member that keeps a list of
pairs said it does not list the pair, `ChainExhaustedError` (with `empty_from`) otherwise. Whether such a window lies
before the pair's listing is a separate question (`first_candle`), asked of the venues able to answer it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from datafactory_assets.datasets import SPOT_CANDLES, Dataset
from datafactory_assets.resilience.guard import SourceGuard
from datafactory_assets.sources.base import (
    ErrorKind,
    FetchResult,
    NotListedError,
    RequestRecord,
    Source,
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
    evidence: dict[str, list[tuple[datetime, datetime]]] = field(default_factory=dict)  # spans each answer vouches for


class ChainExhaustedError(SourceError):
    """No source in the chain served the window; `failures` says why for each, `violations` holds bad data found,
    `empty_from` the members that answered without a single candle."""

    def __init__(self, failures: list[SourceFailure], requests: list[RequestRecord], violations: list, *,
                 empty_from: Sequence[str] = (), message: str = "no source served the window",
                 kind: ErrorKind = ErrorKind.TRANSIENT):
        super().__init__(f"{message}: " + "; ".join(map(str, failures)), kind=kind, requests=requests)
        self.failures = failures
        self.violations = violations
        self.empty_from = list(empty_from)


class PairNotListedError(ChainExhaustedError):
    """No source of the chain lists the pair (a mistyped or delisted symbol): an error to fix, never a hole."""

    def __init__(self, symbol: str, failures: list[SourceFailure], requests: list[RequestRecord]):
        super().__init__(failures, requests, [], kind=ErrorKind.PERMANENT,
                         message=f"{symbol} is not listed by any source of its chain that was asked")
        self.symbol = symbol


@dataclass
class _Attempt:
    """What one `fetch` has learnt so far, across the members it asked."""

    retries_before: dict[str, int]
    failures: list[SourceFailure] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)
    violations: list = field(default_factory=list)
    empty_from: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)  # members whose list of pairs lacks the symbol
    may_list: list[str] = field(default_factory=list)  # members keeping a list of pairs that did not refuse it
    undecided: bool = False  # a member failed in a way that asking again could change
    consulted: list[str] = field(default_factory=list)
    passed_over: list[SourceFailure] = field(default_factory=list)
    evidence: dict[str, list[tuple[datetime, datetime]]] = field(default_factory=dict)

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
    source: Source
    guard: SourceGuard


class FailoverChain:
    """`fetch` returns the first valid answer among the members; `validate(frame)` lists the problems of one. Every
    member is asked for rows of `dataset` (spot candles unless told)."""

    def __init__(self, members: Sequence[ChainMember], *, validate: Callable[[pl.DataFrame], list],
                 dataset: Dataset = SPOT_CANDLES):
        self.members = list(members)
        self.validate = validate
        self.dataset = dataset

    def fetch(self, symbol: str, *, start: datetime, end: datetime, timeframe: str,
              expected_rows: int | None = None) -> ChainResult:
        """The window from the first source that serves it validly, its holes filled from the later ones.

        Raises `PairNotListedError` when no member lists the pair, `ChainExhaustedError` when none served a candle.
        """
        attempt = _Attempt(retries_before={m.source.name: m.guard.retries for m in self.members})
        served: ChainResult | None = None
        for member in self.members:
            if served is not None and (expected_rows is None or served.frame.height >= expected_rows):
                break
            fetched = self._ask(member, attempt, symbol=symbol, start=start, end=end, timeframe=timeframe)
            if fetched is None:
                continue
            if fetched.frame.is_empty() and not self._none_due(fetched):
                attempt.empty_from.append(member.source.name)
                attempt.fail(member.source.name, "empty", "no candles in the window: down or broken, not evidence")
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
        if served is None:
            raise self._exhausted(symbol, attempt)
        served.requests, served.failures, served.passed_over = attempt.requests, attempt.failures, attempt.passed_over
        served.retries = sum(m.guard.retries - attempt.retries_before[m.source.name] for m in self.members)
        served.holes_confirmed = not attempt.undecided and self._all_consulted(attempt)
        served.consulted = attempt.consulted
        served.evidence = attempt.evidence
        return served

    def _all_consulted(self, attempt: _Attempt) -> bool:
        """Every member answered the window or can never have it: a fetch that stopped at a served answer (one
        whose rows were all that was expected, or a dataset at the venue's own intervals with nothing known due)
        did not ask the later members, so their silence is no evidence of a hole."""
        return {m.source.name for m in self.members} <= set(attempt.consulted)

    def first_candle(self, symbol: str, *, since: datetime, timeframe: str) -> tuple[str, datetime] | None:
        """The first member able to date the pair's first candle at or after `since`, and that time; None when
        none can (down, or no such question in its API)."""
        for member in self.members:
            if member.guard.blocked_reason():
                continue
            try:
                first = member.source.first_candle_since(symbol, since=since, timeframe=timeframe,
                                                         guard=member.guard, dataset=self.dataset)
            except SourceError:
                continue
            if first is not None:
                return member.source.name, first
        return None

    def _none_due(self, fetched: FetchResult) -> bool:
        """An empty window is an answer, not a failure, for a dataset at the venue's own intervals (funding: most
        hours hold no event) when the answer around it held events, so the venue was up and served its schedule."""
        return self.dataset.cadence.venue_interval and bool(fetched.spans())

    def delisting(self, symbol: str, *, timeframe: str) -> tuple[str, datetime] | None:
        """The first member whose market list shows the pair no longer trading, and when its last row closed; None
        when every member that keeps a market list and could be asked still trades it (or none can tell)."""
        for member in self.members:
            if not member.source.lists_pairs or member.guard.blocked_reason():
                continue
            try:
                ended = member.source.delisted_at(symbol, timeframe=timeframe, guard=member.guard,
                                                  dataset=self.dataset)
            except SourceError:
                continue
            if ended is not None:
                return member.source.name, ended
        return None

    @staticmethod
    def _exhausted(symbol: str, attempt: _Attempt) -> ChainExhaustedError:
        """Why no member served a candle: the pair is listed nowhere, or every member failed or answered empty."""
        failures = attempt.failures + attempt.passed_over
        if attempt.unlisted and not attempt.may_list and not attempt.violations:
            return PairNotListedError(symbol, failures, attempt.requests)
        return ChainExhaustedError(failures, attempt.requests, attempt.violations, empty_from=attempt.empty_from)

    def _ask(self, member: ChainMember, attempt: _Attempt, *, symbol: str, start: datetime, end: datetime,
             timeframe: str) -> FetchResult | None:
        """One source's valid answer for the window, or None with the reason recorded in `attempt`."""
        name = member.source.name
        unservable = member.source.cannot_serve(start, timeframe, dataset=self.dataset)
        if unservable:
            attempt.pass_over(name, unservable, final=not member.source.publishes_later)
            return None
        blocked = member.guard.blocked_reason()
        if blocked:
            attempt.fail(name, "skipped", blocked)
            self._note_listing(member, attempt)
            return None
        try:
            fetched = member.source.fetch_range(symbol, start=start, end=end, timeframe=timeframe,
                                                guard=member.guard, dataset=self.dataset)
        except NotListedError as exc:
            attempt.requests.extend(exc.requests)
            attempt.unlisted.append(name)
            attempt.fail(name, "not listed", str(exc), final=True)
            return None
        except SourceError as exc:
            attempt.requests.extend(exc.requests)
            kind = "skipped" if isinstance(exc, SourceUnavailableError) else str(exc.kind)
            attempt.fail(name, kind, str(exc), final=exc.kind is ErrorKind.PERMANENT)
            self._note_listing(member, attempt)
            return None
        attempt.requests.extend(fetched.requests)
        self._note_listing(member, attempt)
        problems = self.validate(fetched.frame)
        if problems:
            attempt.violations = attempt.violations or problems
            attempt.fail(name, str(ErrorKind.BROKEN),
                        f"invalid {self.dataset.unit}s: " + "; ".join(map(str, problems)))
            return None
        attempt.consulted.append(name)
        attempt.evidence[name] = fetched.spans()
        return fetched

    @staticmethod
    def _note_listing(member: ChainMember, attempt: _Attempt) -> None:
        """A member that keeps a list of pairs and did not say the pair is missing from it may list it."""
        if member.source.lists_pairs:
            attempt.may_list.append(member.source.name)

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
