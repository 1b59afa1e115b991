"""What every source adapter returns or raises, independent of the client library behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl


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
class FetchResult:
    """The candles of a window and the requests it took to get them."""

    frame: pl.DataFrame
    requests: list[RequestRecord] = field(default_factory=list)

    @property
    def latency_ms(self) -> float:
        return sum(r.latency_ms for r in self.requests)


class SourceError(Exception):
    """A source could not serve a window; carries the requests made so they are still logged."""

    def __init__(self, message: str, *, requests: list[RequestRecord] | None = None):
        super().__init__(message)
        self.requests = requests if requests is not None else []


class BrokenAnswerError(SourceError):
    """The source answered, but not with data: a garbled or malformed body that a client may read as 'no candles'."""
