"""What every source adapter returns or raises, independent of the client library behind it.

Errors are classified at the edge, where the client's exceptions and HTTP status are known, so that retry, breaker
and failover decide on one vocabulary (`ErrorKind`) whatever the library.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

import polars as pl

from datafactory_assets.datasets import SPOT_CANDLES, Dataset


class ErrorKind(StrEnum):
    """Why a request failed, which decides what happens next."""

    THROTTLED = "throttled"  # 429, rate limit: wait (Retry-After) and retry
    TRANSIENT = "transient"  # 5xx, timeout, reset: back off and retry
    BANNED = "banned"  # 418, 451: stop using the source for a while, fail over
    PERMANENT = "permanent"  # bad symbol, bad request, auth: no retry, clear error
    BROKEN = "broken"  # an answer that is not data (garbled 200): retry a little, then fail over


def epoch_ms(moment: datetime) -> int:
    """Epoch milliseconds; a naive datetime is UTC, as in the canonical frame."""
    return int((moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).timestamp() * 1000)


def naive_utc(ms: int) -> datetime:
    """Epoch milliseconds as the canonical frame's naive UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


def retry_after_s(headers) -> float | None:
    """The seconds a venue asks us to wait (`Retry-After`), or None when it says nothing usable."""
    headers = headers or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def status_kind(status: int | None) -> ErrorKind | None:
    """What an HTTP status alone says, the same for every venue; None when there was no answer or it was a 2xx."""
    if status is None or status < 400:
        return None
    if status == 429:
        return ErrorKind.THROTTLED
    if status in (418, 451):
        return ErrorKind.BANNED
    return ErrorKind.TRANSIENT if status >= 500 else ErrorKind.PERMANENT


def runner(guard):
    """How a source sends one request: through `guard.run(fn, weight=...)` when given, else straight out."""
    return guard.run if guard is not None else _unguarded


def _unguarded(fn, *, weight: int = 1):
    return fn()


@dataclass(frozen=True)
class RequestRecord:
    """One request to a source, as the warehouse's `ingest_log` stores it."""

    source: str
    symbol: str
    window_start: datetime
    window_end: datetime
    rows: int
    latency_ms: float
    outcome: str  # "ok", "empty" or "error"
    error_class: str | None
    requested_at: datetime


@dataclass
class RequestProbe:
    """What the body of `recorded` tells about its request: how many rows the answer held."""

    rows: int = 0


@contextmanager
def recorded(requests: list[RequestRecord], *, source: str, symbol: str, window_start: datetime,
             window_end: datetime) -> Iterator[RequestProbe]:
    """Time one request and append its record to `requests`, whatever happens inside; the body sets `probe.rows`."""
    probe, started_at, began = RequestProbe(), datetime.now(UTC), time.perf_counter()
    outcome, error_class = "ok", None
    try:
        yield probe
        outcome = "ok" if probe.rows else "empty"
    except Exception as exc:
        outcome = "error"
        kind = exc.kind if isinstance(exc, SourceError) else "unexpected"
        error_class = f"{kind}:{type(exc.__cause__ or exc).__name__}"
        raise
    finally:
        requests.append(RequestRecord(
            source=source, symbol=symbol, window_start=window_start, window_end=window_end, rows=probe.rows,
            latency_ms=(time.perf_counter() - began) * 1000, outcome=outcome, error_class=error_class,
            requested_at=started_at,
        ))


@dataclass
class FetchResult:
    """The rows of a window and the requests it took.

    `vouched` holds the spans [first, last] (naive UTC open times, inclusive) inside which the answer is whole: a
    candle missing there is missing at the source, not lost on the way. None means the span from the answer's first
    to its last candle, which is all a paged REST answer proves; a source that reads whole verified files (the
    Binance archive) vouches for each file's whole span.
    """

    frame: pl.DataFrame
    requests: list[RequestRecord] = field(default_factory=list)
    vouched: list[tuple[datetime, datetime]] | None = None

    def spans(self) -> list[tuple[datetime, datetime]]:
        """The spans the answer vouches for (see the class docstring); none for an empty answer."""
        if self.vouched is not None:
            return self.vouched
        return [] if self.frame.is_empty() else [(self.frame["ts"].min(), self.frame["ts"].max())]


class SourceError(Exception):
    """A source could not serve a request; carries its classification and the requests made so they are logged."""

    kind: ErrorKind = ErrorKind.TRANSIENT

    def __init__(self, message: str, *, kind: ErrorKind | None = None, retry_after_s: float | None = None,
                 requests: list[RequestRecord] | None = None):
        super().__init__(message)
        self.kind = kind or type(self).kind
        self.retry_after_s = retry_after_s
        self.requests = requests if requests is not None else []


class BrokenAnswerError(SourceError):
    """The source answered, but not with data: a garbled or malformed body that a client may read as 'no candles'."""

    kind = ErrorKind.BROKEN


class NotListedError(SourceError):
    """The source does not list the pair at all (a mistyped or delisted symbol): no window of it will ever come."""

    kind = ErrorKind.PERMANENT


class SourceUnavailableError(SourceError):
    """The source is not asked at all: its breaker is open, it is banned, or it cannot serve the window."""

    kind = ErrorKind.TRANSIENT


def unserved(dataset: Dataset, source: str) -> str | None:
    """Why `source` cannot serve any window of `dataset`: the dataset declares no endpoint there; else None."""
    return None if source in dataset.venues else f"{source} does not serve the dataset {dataset.name}"


class Source(Protocol):
    """What the failover chain needs of a source, whatever client library is behind it: the rows of a dataset for
    an instrument and window. `dataset` is spot candles unless told, the one dataset that existed before datasets."""

    name: str
    publishes_later: bool  # a window it cannot serve now may become servable (an archive published days later)
    lists_pairs: bool  # it keeps a list of its pairs, so its silence about one says something (an archive does not)

    def cannot_serve(self, start: datetime, timeframe: str, *, dataset: Dataset = SPOT_CANDLES) -> str | None:
        """Why the source cannot serve a window of `dataset` starting at `start`, or None."""

    def fetch_range(self, symbol: str, *, start: datetime, end: datetime, timeframe: str, guard=None,
                    dataset: Dataset = SPOT_CANDLES) -> FetchResult:
        """The closed rows of `dataset` with open time in [start, end), as `dataset.schema`."""

    def quote_note(self, symbol: str) -> str | None:
        """Says so when the source prices the symbol in another quote currency (Yahoo's USD for USDT)."""

    def first_candle_since(self, symbol: str, *, since: datetime, timeframe: str, guard=None,
                           dataset: Dataset = SPOT_CANDLES) -> datetime | None:
        """The open time of the source's first row of `dataset` at or after `since` (its listing, for a `since`
        before it); None when the source cannot tell, or has no row there."""

    def delisted_at(self, symbol: str, *, timeframe: str, guard=None,
                    dataset: Dataset = SPOT_CANDLES) -> datetime | None:
        """When the source's last row of `dataset` closed, for a pair it lists as no longer trading (its delisting);
        None for a pair still trading, or when the source cannot tell."""
