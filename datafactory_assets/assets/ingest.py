"""Fetch through the failover chain, validate and store one window of one symbol's dataset: the work behind every
materialization of a dataset's asset.

Kept free of Dagster so that the benchmark and the CLI run exactly the code the assets run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import polars as pl

from datafactory_assets.checks import Violation, missing_ranges
from datafactory_assets.checks.funding import EVENT_LOOKBACK, missing_events
from datafactory_assets.checks.gaps import missing_times
from datafactory_assets.datasets import SPOT_CANDLES, Dataset
from datafactory_assets.resilience.chain import (
    ChainExhaustedError,
    ChainResult,
    FailoverChain,
    PairNotListedError,
    SourceFailure,
)
from datafactory_assets.settings import SymbolSettings, timeframe_to_ms
from datafactory_assets.sources import RequestRecord
from datafactory_assets.sources.base import ErrorKind
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.sources.venues import VENUES
from datafactory_assets.warehouse import WarehouseResource, queries
from datafactory_assets.warehouse.unlisted import forget_unlisted, record_unlisted
from datafactory_assets.warehouse.writes import ConfirmedHoles, log_requests, record_listing, upsert_rows


# How a source may have failed a window that still lies before the pair's listing: it answered, and asking again
# cannot change the answer.
_DECIDED = frozenset({"empty", "not listed", "passed over", str(ErrorKind.PERMANENT)})


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
    before_listing: datetime | None = None  # the window lies before the pair's first candle, at this time

    @property
    def missing_candles(self) -> int:
        return int(self.missing["missing"].sum()) if self.missing.height else 0

    @property
    def fetch_latency_ms(self) -> float:
        return sum(r.latency_ms for r in self.requests)


def ingest_window(symbol: SymbolSettings, *, start: datetime, end: datetime, sources: SourcesResource,
                  warehouse: WarehouseResource, run_id: str | None = None, read_from: datetime | None = None,
                  dataset: Dataset = SPOT_CANDLES) -> IngestReport:
    """Store what the first source of the symbol's chain able to serve [start, end) of `dataset` validly has (spot
    candles unless told), or change nothing. Rows follow the dataset's cadence; `dataset.validate` judges them.

    With `read_from`, the stored candles from there to `end` are read back after the write in the same connection
    (the checks judge what is stored): opening the warehouse is most of a one-hour step's own cost.

    A window every source answered without a candle is stored as nothing only when a venue dates the pair's first
    candle after the window (the window lies before the listing, kept in `symbols.listed_ts`); otherwise it is an
    outage, not a hole.

    Raises `PairNotListedError` when no source of the chain lists the pair, `ChainExhaustedError` when no source
    served the window and `ValidationFailedError` when the sources that answered sent bad candles; in each case the
    requests are logged and the stored candles stay as they were.
    """
    timeframe = dataset.cadence.timeframe(symbol.timeframe)
    if timeframe is None:  # the venue's own intervals (funding): what was due is known from the rows around
        return _ingest_events(symbol, start=start, end=end, sources=sources, warehouse=warehouse, run_id=run_id,
                              dataset=dataset)
    timeframe_ms = timeframe_to_ms(timeframe)
    chain = sources.chain(symbol.sources, dataset=dataset,
                          validate=partial(dataset.validate, start=start, end=end, timeframe_ms=timeframe_ms))
    expected = int((end - start).total_seconds() * 1000) // timeframe_ms
    closed = _closed_candles(start, end, timeframe_ms)
    try:
        result = chain.fetch(symbol.symbol, start=start, end=end, timeframe=timeframe, expected_rows=closed)
    except ChainExhaustedError as exc:
        listed = _listing(chain, exc, symbol, timeframe=timeframe)
        before = listed is not None and listed[1] >= end.replace(tzinfo=None)
        with warehouse.connect() as conn:
            log_requests(conn, exc.requests, run_id, dataset=dataset)
            if before:
                record_listing(conn, symbol=symbol, listed_ts=listed[1])
                stored = (queries.window_candles(conn, symbol.symbol, read_from, end, dataset=dataset)
                          if read_from else None)
            if isinstance(exc, PairNotListedError):
                record_unlisted(conn, symbol.symbol, answers="; ".join(map(str, exc.failures)), run_id=run_id,
                                dataset=dataset)
        if exc.violations:
            raise ValidationFailedError(exc.violations, exc.failures) from exc
        if before:
            return _before_listing(exc, end=end, expected=expected, listed=listed, stored=stored,
                                   timeframe_ms=timeframe_ms)
        if listed is not None:
            raise ChainExhaustedError(exc.failures, exc.requests, [], empty_from=exc.empty_from, message=(
                f"no source served a candle of {symbol.symbol} although {listed[0]} has had candles since "
                f"{listed[1]:%Y-%m-%d %H:%M} UTC: an outage or a broken answer, not a hole")) from exc
        raise
    closed_end = start + timedelta(milliseconds=closed * timeframe_ms)
    holes = _confirmed_holes(result, start=start, closed_end=closed_end, timeframe_ms=timeframe_ms)
    with warehouse.connect() as conn:
        written = upsert_rows(conn, result.frame, dataset=dataset, symbol=symbol, requests=result.requests,
                              run_id=run_id, holes=holes, fill_only=_other_quote(chain, symbol))
        forget_unlisted(conn, symbol.symbol, dataset=dataset)
        confirmed = queries.confirmed_holes(conn, symbol.symbol, start, end, dataset=dataset) if holes else 0
        stored = queries.window_candles(conn, symbol.symbol, read_from, end, dataset=dataset) if read_from else None
    return IngestReport(
        rows=written.rows,
        expected_rows=expected,
        missing=missing_ranges(result.frame["ts"], start=start, end=end, timeframe_ms=timeframe_ms),
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


def _ingest_events(symbol: SymbolSettings, *, start: datetime, end: datetime, sources: SourcesResource,
                   warehouse: WarehouseResource, run_id: str | None, dataset: Dataset) -> IngestReport:
    """`ingest_window` for rows at the venue's own intervals: the first source that serves the window (an hour
    with no event due is served empty) stores it; what was due and is missing comes from the stored events before
    and in the window after the write (`checks.funding.missing_events`). No hole is confirmed for such rows yet."""
    chain = sources.chain(symbol.sources, dataset=dataset, validate=partial(dataset.validate, start=start, end=end))
    try:
        result = chain.fetch(symbol.symbol, start=start, end=end, timeframe=None)
    except ChainExhaustedError as exc:
        with warehouse.connect() as conn:
            log_requests(conn, exc.requests, run_id, dataset=dataset)
        if exc.violations:
            raise ValidationFailedError(exc.violations, exc.failures) from exc
        raise
    with warehouse.connect() as conn:
        written = upsert_rows(conn, result.frame, dataset=dataset, symbol=symbol, requests=result.requests,
                              run_id=run_id)
        around = queries.window_candles(conn, symbol.symbol, start - EVENT_LOOKBACK, end, dataset=dataset)
    missing = missing_events(around, start=start, end=end)
    return IngestReport(
        rows=written.rows, expected_rows=written.rows + missing.height, missing=missing, confirmed_empty=0,
        source=result.source, requests=result.requests, failures=result.failures, passed_over=result.passed_over,
        retries=result.retries, filled=result.filled, quote_notes=result.quote_notes, revised=written.revised,
        refused=written.refused, history_rewrites=written.history_rewrites,
    )


def _listing(chain: FailoverChain, exc: ChainExhaustedError, symbol: SymbolSettings, *,
             timeframe: str) -> tuple[str, datetime] | None:
    """For a window every source of the chain answered without a candle (or cannot have: not listed there, too
    old for it): who dates the pair's first candle since the configured start, and when; None when the window
    failed otherwise (a source down may have listed the pair earlier than the one that dates it), or no source can
    tell."""
    if isinstance(exc, PairNotListedError) or exc.violations or not exc.empty_from:
        return None
    if any(f.kind not in _DECIDED for f in exc.failures):
        return None
    return chain.first_candle(symbol.symbol, since=symbol.start, timeframe=timeframe)


def _before_listing(exc: ChainExhaustedError, *, end: datetime, expected: int, listed: tuple[str, datetime],
                    stored: pl.DataFrame | None, timeframe_ms: int) -> IngestReport:
    """A window before the pair's listing: nothing to store, nothing missing, and said so."""
    none = pl.Series("ts", [], pl.Datetime("us"))
    return IngestReport(
        rows=0, expected_rows=expected, confirmed_empty=0, source=listed[0], requests=exc.requests, failures=[],
        missing=missing_ranges(none, start=end, end=end, timeframe_ms=timeframe_ms),
        passed_over=[*exc.failures, SourceFailure(listed[0], "before the listing",
                                                   f"before the listing at {listed[1]:%Y-%m-%d %H:%M} UTC")],
        retries=0, filled={}, quote_notes=[], revised=0, refused=0, history_rewrites=0, stored=stored,
        before_listing=listed[1],
    )


def _confirmed_holes(result: ChainResult, *, start: datetime, closed_end: datetime,
                     timeframe_ms: int) -> ConfirmedHoles | None:
    """The closed candles of the window that every source was asked for and none has, when the chain says so, and
    that some answer vouches for (between candles of that answer, or in a verified archive file), each with what
    it means where the venue says (a Binance hole is a halt or maintenance); None when there are none."""
    if not result.holes_confirmed:
        return None
    holes = pl.DataFrame({"ts": missing_times(result.frame["ts"], start=start, end=closed_end,
                                              timeframe_ms=timeframe_ms)})
    vouched, reason = pl.lit(False), pl.lit(None, pl.String)
    for source, spans in reversed(result.evidence.items()):  # the first source's reason wins
        inside = pl.any_horizontal(pl.lit(False), *(pl.col("ts").is_between(first, last) for first, last in spans))
        vouched = vouched | inside
        quirks = VENUES.get(source)
        if quirks is not None and quirks.hole_reason:
            reason = pl.when(inside).then(pl.lit(quirks.hole_reason)).otherwise(reason)
    holes = holes.filter(vouched).with_columns(reason=reason)
    if not holes.height:
        return None
    return ConfirmedHoles(ts=holes["ts"], sources=", ".join(result.consulted), reason=holes["reason"])


def _other_quote(chain: FailoverChain, symbol: SymbolSettings) -> set[str]:
    """The chain's sources that price the symbol in another quote currency: they may only fill minutes not held."""
    return {m.source.name for m in chain.members if m.source.quote_note(symbol.symbol)}


def _closed_candles(start: datetime, end: datetime, timeframe_ms: int) -> int:
    """How many candles of [start, end) have closed by now: the most any source can serve."""
    last = min(end.timestamp(), datetime.now(UTC).timestamp()) * 1000 // timeframe_ms * timeframe_ms
    return max(int(last - start.timestamp() * 1000) // timeframe_ms, 0)
