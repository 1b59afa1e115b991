"""Fetch through the failover chain, validate and store one window of one symbol: the work behind every candle
materialization.

Kept free of Dagster so that the benchmark and the CLI run exactly the code the assets run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import polars as pl

from datafactory_assets.checks import Violation, missing_ranges, validate_candles
from datafactory_assets.checks.gaps import missing_times
from datafactory_assets.resilience.chain import ChainExhaustedError, ChainResult, FailoverChain, SourceFailure
from datafactory_assets.settings import SymbolSettings
from datafactory_assets.sources import RequestRecord
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse import WarehouseResource, queries
from datafactory_assets.warehouse.writes import ConfirmedHoles, log_requests, upsert_candles


class ValidationFailedError(Exception):
    """Every source that answered sent bad candles; nothing was written."""

    def __init__(self, violations: list[Violation], failures: list[SourceFailure]):
        super().__init__("candles failed validation, nothing written: " + "; ".join(map(str, failures)))
        self.violations = violations
        self.failures = failures


@dataclass(frozen=True)
class IngestReport:
    """What one window's ingestion stored, where it came from and what it cost."""

    rows: int
    expected_rows: int
    missing: pl.DataFrame
    confirmed_empty: int  # of the missing candles, those every source confirmed empty often enough
    source: str
    requests: list[RequestRecord]
    failures: list[SourceFailure]
    passed_over: list[SourceFailure]
    retries: int
    filled: dict[str, int]
    quote_notes: list[str]
    revised: int  # stored candles replaced with other values (kept in candle_revisions)
    refused: int  # incoming candles that differed from a stored one they may not replace (a downgrade refused)
    history_rewrites: int  # of the revisions, candles older than a day changed by the venue that served them
    stored: pl.DataFrame | None = None  # with `read_from`: the stored candles of [read_from, end) after the write

    @property
    def missing_candles(self) -> int:
        return int(self.missing["missing"].sum()) if self.missing.height else 0

    @property
    def fetch_latency_ms(self) -> float:
        return sum(r.latency_ms for r in self.requests)


def ingest_window(symbol: SymbolSettings, *, start: datetime, end: datetime, sources: SourcesResource,
                  warehouse: WarehouseResource, run_id: str | None = None,
                  read_from: datetime | None = None) -> IngestReport:
    """Store what the first source of the symbol's chain able to serve [start, end) validly has, or change nothing.

    With `read_from`, the stored candles from there to `end` are read back after the write in the same connection
    (the checks judge what is stored): opening the warehouse is most of a one-hour step's own cost.

    Raises `ChainExhaustedError` when no source served the window and `ValidationFailedError` when the sources that
    answered sent bad candles; in both cases the requests are logged and the stored candles stay as they were.
    """
    chain = sources.chain(symbol.sources, validate=partial(validate_candles, start=start, end=end,
                                                           timeframe_ms=symbol.timeframe_ms))
    expected = int((end - start).total_seconds() * 1000) // symbol.timeframe_ms
    closed = _closed_candles(start, end, symbol.timeframe_ms)
    try:
        result = chain.fetch(symbol.symbol, start=start, end=end, timeframe=symbol.timeframe, expected_rows=closed)
    except ChainExhaustedError as exc:
        with warehouse.connect() as conn:
            log_requests(conn, exc.requests, run_id)
        if exc.violations:
            raise ValidationFailedError(exc.violations, exc.failures) from exc
        raise
    closed_end = start + timedelta(milliseconds=closed * symbol.timeframe_ms)
    holes = _confirmed_holes(result, symbol, start=start, closed_end=closed_end)
    with warehouse.connect() as conn:
        written = upsert_candles(conn, result.frame, symbol=symbol, requests=result.requests, run_id=run_id,
                                 holes=holes, fill_only=_other_quote(chain, symbol))
        confirmed = queries.confirmed_holes(conn, symbol.symbol, start, end) if holes else 0
        stored = queries.window_candles(conn, symbol.symbol, read_from, end) if read_from else None
    return IngestReport(
        rows=written.rows,
        expected_rows=expected,
        missing=missing_ranges(result.frame["ts"], start=start, end=end, timeframe_ms=symbol.timeframe_ms),
        confirmed_empty=confirmed,
        source=result.source,
        requests=result.requests,
        failures=result.failures,
        passed_over=result.passed_over,
        retries=result.retries,
        filled=result.filled,
        quote_notes=result.quote_notes,
        revised=written.revised,
        refused=written.refused,
        history_rewrites=written.history_rewrites,
        stored=stored,
    )


def _confirmed_holes(result: ChainResult, symbol: SymbolSettings, *, start: datetime,
                     closed_end: datetime) -> ConfirmedHoles | None:
    """The closed candles of the window that every source was asked for and none has, when the chain says so;
    None when there are none (the usual case: nothing to record, nothing to count)."""
    if not result.holes_confirmed:
        return None
    holes = missing_times(result.frame["ts"], start=start, end=closed_end, timeframe_ms=symbol.timeframe_ms)
    return ConfirmedHoles(ts=holes, sources=", ".join(result.consulted)) if holes.len() else None


def _other_quote(chain: FailoverChain, symbol: SymbolSettings) -> set[str]:
    """The chain's sources that price the symbol in another quote currency: they may only fill minutes not held."""
    return {m.source.name for m in chain.members if m.source.quote_note(symbol.symbol)}


def _closed_candles(start: datetime, end: datetime, timeframe_ms: int) -> int:
    """How many candles of [start, end) have closed by now: the most any source can serve."""
    last = min(end.timestamp(), datetime.now(UTC).timestamp()) * 1000 // timeframe_ms * timeframe_ms
    return max(int(last - start.timestamp() * 1000) // timeframe_ms, 0)
