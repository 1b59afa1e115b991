"""Fetch through the failover chain, validate and store one window of one symbol's dataset: the work behind every
materialization of a dataset's asset.

Kept free of Dagster so that the benchmark and the CLI run exactly the code the assets run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial

import duckdb
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
from datafactory_assets.warehouse.writes import (
    ConfirmedHoles,
    log_requests,
    record_delisting,
    record_listing,
    record_switch_gap,
    upsert_rows,
)


# How a source may have failed a window that still lies before the pair's listing: it answered, and asking again
# cannot change the answer.
_DECIDED = frozenset({"empty", "not listed", "passed over", str(ErrorKind.PERMANENT)})


class ValidationFailedError(Exception):
    """Every source that answered sent bad rows (`violations`: at least one, each naming the dataset's unit); nothing
    was written."""

    def __init__(self, violations: list[Violation], failures: list[SourceFailure]):
        super().__init__(f"{violations[0].unit}s failed validation, nothing written: "
                         + "; ".join(map(str, failures)))
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
    # with `read_from`, per (symbol, dataset name) of `read_also`: its stored rows of [start, end) after the write
    alongside: dict[tuple[str, str], pl.DataFrame] = field(default_factory=dict)
    before_listing: datetime | None = None  # the window lies before the pair's first candle, at this time
    delisted: datetime | None = None  # a venue stopped listing the pair as trading; its last candle closed then

    @property
    def missing_candles(self) -> int:
        return int(self.missing["missing"].sum()) if self.missing.height else 0

    @property
    def fetch_latency_ms(self) -> float:
        return sum(r.latency_ms for r in self.requests)


def ingest_window(symbol: SymbolSettings, *, start: datetime, end: datetime, sources: SourcesResource,
                  warehouse: WarehouseResource, run_id: str | None = None, read_from: datetime | None = None,
                  read_also: Sequence[tuple[str, Dataset]] = (), dataset: Dataset = SPOT_CANDLES) -> IngestReport:
    """Store what the first source of the symbol's chain able to serve [start, end) of `dataset` validly has (spot
    candles unless told), or change nothing. Rows follow the dataset's cadence; `dataset.violations` judges them.

    With `read_from`, the stored candles from there to `end` are read back after the write in the same connection
    (the checks judge what is stored), and so are the [start, end) rows of each (symbol, dataset) of `read_also`
    (the other side of a cross-dataset check): opening and closing the warehouse is most of a step's own time in
    it, and a connection of its own for a check's read would hold the lock writers wait for once more.

    A window every source answered without a candle is stored as nothing only when a venue dates the pair's first
    candle after the window (the window lies before the listing, kept in `symbols.listed_ts`) or its last candle
    before it (a venue lists the pair as no longer trading: the delisting, kept in `symbols.delisted_ts`);
    otherwise it is an outage, not a hole. A window served short is checked for a delisting too (free for a
    trading pair: the venue's market list is loaded already), so the hour of the delisting dates it.

    Raises `PairNotListedError` when no source of the chain lists the pair, `ChainExhaustedError` when no source
    served the window and `ValidationFailedError` when the sources that answered sent bad candles; in each case the
    requests are logged and the stored candles stay as they were.
    """
    parts = symbol.venue_symbols(start, end)
    if len(parts) > 1:  # a window across a rename: each part from the venue symbol then in force
        return _across_renames(symbol, parts, read_from=read_from, read_also=read_also, start=start, end=end,
                               warehouse=warehouse, dataset=dataset,
                               ingest=partial(ingest_window, symbol, sources=sources, warehouse=warehouse,
                                              run_id=run_id, dataset=dataset))
    venue = parts[0][0] if parts else symbol.symbol
    timeframe = dataset.cadence.timeframe(symbol.timeframe)
    if timeframe is None:  # the venue's own intervals (funding): what was due is known from the rows around
        return _ingest_events(symbol, start=start, end=end, sources=sources, warehouse=warehouse, run_id=run_id,
                              dataset=dataset)
    timeframe_ms = timeframe_to_ms(timeframe)
    chain = sources.chain(symbol.sources, dataset=dataset,
                          validate=partial(dataset.violations, start=start, end=end, timeframe_ms=timeframe_ms))
    expected = int((end - start).total_seconds() * 1000) // timeframe_ms
    closed = _closed_candles(start, end, timeframe_ms)
    try:
        result = chain.fetch(venue, start=start, end=end, timeframe=timeframe, expected_rows=closed)
    except ChainExhaustedError as exc:
        exc.requests = _as_instrument(exc.requests, symbol)
        return _unserved(exc, chain=chain, symbol=symbol, venue=venue, start=start, end=end, expected=expected,
                         timeframe=timeframe, warehouse=warehouse, run_id=run_id, read_from=read_from,
                         read_also=read_also, dataset=dataset)
    result.requests = _as_instrument(result.requests, symbol)
    frame = result.frame.with_columns(symbol=pl.lit(symbol.symbol)) if venue != symbol.symbol else result.frame
    closed_end = start + timedelta(milliseconds=closed * timeframe_ms)
    holes = (_vouched_holes(result, missing_times(result.frame["ts"], start=start, end=closed_end,
                                                  timeframe_ms=timeframe_ms), venue_reasons=dataset.ohlcv)
             if result.holes_confirmed else None)
    delisted, switch = (_dated_ends(chain, symbol, venue=venue, end=end, timeframe=timeframe)
                        if frame.height < closed else (None, None))
    with warehouse.connect() as conn:
        if delisted is not None:
            record_delisting(conn, symbol=symbol, delisted_ts=delisted[1])
        if switch is not None:
            record_switch_gap(conn, symbol=symbol, slot_ms=timeframe_ms, dataset=dataset, **switch)
        written = upsert_rows(conn, frame, dataset=dataset, symbol=symbol, requests=result.requests,
                              run_id=run_id, holes=holes, fill_only=_other_quote(chain, symbol), venue_symbol=venue)
        forget_unlisted(conn, symbol.symbol, dataset=dataset)
        confirmed = (queries.confirmed_holes(conn, symbol.symbol, start, end, dataset=dataset)
                     if holes or switch else 0)
        stored, alongside = read_back(conn, symbol.symbol, read_from=read_from, read_also=read_also, start=start,
                                       end=end, dataset=dataset, written=written.span)
    return IngestReport(
        rows=written.rows,
        expected_rows=expected,
        missing=missing_ranges(frame["ts"], start=start, end=end, timeframe_ms=timeframe_ms),
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
        alongside=alongside,
        delisted=delisted and delisted[1],
    )


def read_back(conn: duckdb.DuckDBPyConnection, symbol: str, *, read_from: datetime | None,
               read_also: Sequence[tuple[str, Dataset]], start: datetime, end: datetime,
               dataset: Dataset, written: pl.DataFrame | None = None) -> tuple[pl.DataFrame | None, dict]:
    """What the checks judge, read in the write's own connection: the symbol's stored rows of [read_from, end) and
    the [start, end) rows of each (symbol, dataset) of `read_also`, by (symbol, dataset name); nothing without
    `read_from`. The rows the write knows it stored over their whole span (`written`: `Upserted.span`) are taken as
    they are and only the rest is read: a fill's window read back cost as much as reading what it had just written."""
    if not read_from:
        return None, {}
    alongside = {(other, other_dataset.name): queries.window_candles(conn, other, start, end, dataset=other_dataset)
                 for other, other_dataset in read_also}
    if written is None or not written.height:
        return queries.window_candles(conn, symbol, read_from, end, dataset=dataset), alongside
    first, last = written["ts"].min(), written["ts"].max()
    around = queries.window_candles(conn, symbol, read_from, end, dataset=dataset, skip=(first, last))
    inside = written.filter(pl.col("ts").is_between(read_from.replace(tzinfo=None), end.replace(tzinfo=None),
                                                    closed="left")).sort("ts")
    # oldest first, as read: the rows before the span, the span's, the rows after it
    return pl.concat([around.filter(pl.col("ts") < first), inside.select(around.columns).cast(around.schema),
                      around.filter(pl.col("ts") > last)]), alongside


def _ingest_events(symbol: SymbolSettings, *, start: datetime, end: datetime, sources: SourcesResource,
                   warehouse: WarehouseResource, run_id: str | None, dataset: Dataset) -> IngestReport:
    """`ingest_window` for rows at the venue's own intervals: the first source that serves the window (an hour
    with no event due is served empty) stores it, and events it lacks that were due after the last one stored
    before the window are taken from the later sources, as missing candles are; what was due and is missing comes
    from the stored events before and in the window after the write (`checks.funding.missing_events`).

    An event due on the instrument's interval timeline (from the events held around the window and those served)
    that every source of the chain answered without, inside the span some answer vouches for, is a hole, recorded
    and confirmed as a missing candle is (`_vouched_holes`); a source that failed (an error, its breaker open, an
    answer without a single event) is no evidence, and neither is a window with nothing stored before it, which the
    chain takes from its first source alone (nothing is known due)."""
    chain = sources.chain(symbol.sources, dataset=dataset, validate=partial(dataset.violations, start=start, end=end))
    closed_end = min(end, datetime.now(UTC))
    with warehouse.connect() as conn:
        held = queries.window_candles(conn, symbol.symbol, start - EVENT_LOOKBACK, end, dataset=dataset)
    before = held.filter(pl.col("ts") < start.replace(tzinfo=None))
    due = missing_events(before, start=start, end=closed_end).height if before.height else None
    try:
        result = chain.fetch(symbol.symbol, start=start, end=end, timeframe=None, expected_rows=due)
    except ChainExhaustedError as exc:
        with warehouse.connect() as conn:
            log_requests(conn, exc.requests, run_id, dataset=dataset)
        if exc.violations:
            raise ValidationFailedError(exc.violations, exc.failures) from exc
        raise
    holes = (_vouched_holes(result, _unserved_events(held, result.frame, start=start, end=closed_end),
                            venue_reasons=False) if result.holes_confirmed else None)
    with warehouse.connect() as conn:
        written = upsert_rows(conn, result.frame, dataset=dataset, symbol=symbol, requests=result.requests,
                              run_id=run_id, holes=holes)
        missing = missing_events(queries.window_candles(conn, symbol.symbol, start - EVENT_LOOKBACK, end,
                                                        dataset=dataset), start=start, end=end)
        confirmed = queries.confirmed_holes(conn, symbol.symbol, start, end, dataset=dataset) if missing.height else 0
    return IngestReport(
        rows=written.rows, expected_rows=written.rows + missing.height, missing=missing, confirmed_empty=confirmed,
        source=result.source, requests=result.requests, failures=result.failures, passed_over=result.passed_over,
        retries=result.retries, filled=result.filled, quote_notes=result.quote_notes, revised=written.revised,
        refused=written.refused, history_rewrites=written.history_rewrites,
    )


def _unserved_events(held: pl.DataFrame, served: pl.DataFrame, *, start: datetime, end: datetime) -> pl.Series:
    """The times of [start, end) due on the interval timeline of the events `held` (stored from before the window to
    its end) and `served` (the chain's answer) that neither holds, oldest first."""
    events = pl.concat([frame.select(pl.col("ts").cast(pl.Datetime("us")), pl.col("interval_ms").cast(pl.Int64))
                        for frame in (served, held)]).unique("ts", keep="first").sort("ts")
    return missing_events(events, start=start, end=end)["first_missing"].alias("ts")


def _dated_ends(chain: FailoverChain, symbol: SymbolSettings, *, venue: str, end: datetime,
                timeframe: str) -> tuple[tuple[str, datetime] | None, dict | None]:
    """For a window served short: the instrument's delisting before `end` (asked of its own symbol only: an earlier
    venue symbol's delisting is its rename), and the span a rename left without a symbol, where the venue dates
    them."""
    delisted = chain.delisting(venue, timeframe=timeframe) if venue == symbol.symbol else None
    if delisted is not None and delisted[1] >= end.replace(tzinfo=None):
        delisted = None  # a later delisting does not explain this window's missing candles
    return delisted, _switch_gap(chain, symbol, venue=venue, timeframe=timeframe)


def _unserved(exc: ChainExhaustedError, *, chain: FailoverChain, symbol: SymbolSettings, venue: str, start: datetime,
              end: datetime, expected: int, timeframe: str, warehouse: WarehouseResource, run_id: str | None,
              read_from: datetime | None, read_also: Sequence[tuple[str, Dataset]], dataset: Dataset) -> IngestReport:
    """A window no source served a row of: before the pair's listing, after its delisting, or between two venue
    symbols of a renamed instrument (each stored as such, and reported with nothing missing); otherwise it raises
    (the requests logged, nothing else changed)."""
    timeframe_ms = timeframe_to_ms(timeframe)
    decided = _decided(exc)
    delisted = chain.delisting(venue, timeframe=timeframe) if decided and venue == symbol.symbol else None
    after = delisted is not None and delisted[1] <= start.replace(tzinfo=None)
    first_venue = symbol.renamed_from[0][0] if symbol.renamed_from else symbol.symbol
    listed = (chain.first_candle(venue, since=symbol.start, timeframe=timeframe)
              if decided and not after and venue == first_venue else None)  # who dates the first candle, and when
    before = listed is not None and listed[1] >= end.replace(tzinfo=None)
    switch = _switch_gap(chain, symbol, venue=venue, timeframe=timeframe) if decided and not after else None
    between = switch is not None and switch["first"] <= start.replace(tzinfo=None) and end.replace(
        tzinfo=None) <= switch["stop"]
    stored, alongside = None, {}
    with warehouse.connect() as conn:
        log_requests(conn, exc.requests, run_id, dataset=dataset)
        if before:
            record_listing(conn, symbol=symbol, listed_ts=listed[1])
        if after:
            record_delisting(conn, symbol=symbol, delisted_ts=delisted[1])
        if between:
            record_switch_gap(conn, symbol=symbol, slot_ms=timeframe_ms, dataset=dataset, **switch)
        if before or after or between:
            stored, alongside = read_back(conn, symbol.symbol, read_from=read_from, read_also=read_also,
                                           start=start, end=end, dataset=dataset)
        if isinstance(exc, PairNotListedError):
            record_unlisted(conn, symbol.symbol, answers="; ".join(map(str, exc.failures)), run_id=run_id,
                            dataset=dataset)
    if exc.violations:
        raise ValidationFailedError(exc.violations, exc.failures) from exc
    if before:
        return _outside_listing(exc, end=end, expected=expected, dated=listed, kind="before the listing",
                                stored=stored, alongside=alongside, timeframe_ms=timeframe_ms)
    if after:
        return _outside_listing(exc, end=end, expected=expected, dated=delisted, kind="after the delisting",
                                stored=stored, alongside=alongside, timeframe_ms=timeframe_ms)
    if between:
        report = _outside_listing(exc, end=end, expected=expected, dated=(switch["sources"], switch["stop"]),
                                  kind=f"before {venue} was listed", stored=stored, alongside=alongside,
                                  timeframe_ms=timeframe_ms)
        return replace(report, confirmed_empty=expected)
    if listed is not None:
        raise ChainExhaustedError(exc.failures, exc.requests, [], empty_from=exc.empty_from, message=(
            f"no source served a candle of {venue} although {listed[0]} has had candles since "
            f"{listed[1]:%Y-%m-%d %H:%M} UTC: an outage or a broken answer, not a hole")) from exc
    raise exc


def _switch_gap(chain: FailoverChain, symbol: SymbolSettings, *, venue: str, timeframe: str) -> dict | None:
    """For a later venue symbol of a renamed instrument whose first candle came after the rename's `until` (Binance
    delisted MATIC/USDT on 2024-09-10 03:00 UTC and listed POL/USDT on 2024-09-13 10:00): the span no venue symbol
    traded, as `record_switch_gap` takes it; None otherwise, or when no source can date that first candle."""
    names = [old for old, _ in symbol.renamed_from] + [symbol.symbol]
    index = names.index(venue) if venue in names else 0
    if index == 0:
        return None
    previous, until = symbol.renamed_from[index - 1]
    first = chain.first_candle(venue, since=until, timeframe=timeframe)
    if first is None or first[1] <= until.replace(tzinfo=None):
        return None
    return {"first": until.replace(tzinfo=None), "stop": first[1], "sources": first[0],
            "reason": f"renamed: {previous} traded until {until:%Y-%m-%d %H:%M} UTC and {venue} from "
                      f"{first[1]:%Y-%m-%d %H:%M} UTC ({first[0]}); no symbol of the instrument traded between"}


def _across_renames(symbol: SymbolSettings, parts: list[tuple[str, datetime, datetime]], *, ingest,
                    read_from: datetime | None, read_also: Sequence[tuple[str, Dataset]], start: datetime,
                    end: datetime, warehouse: WarehouseResource, dataset: Dataset) -> IngestReport:
    """One window of a renamed instrument across a rename: each part ingested from its venue symbol (`ingest`,
    `ingest_window` bound to the rest of the call), the reports added up."""
    reports = [ingest(start=first, end=stop) for _, first, stop in parts]
    stored, alongside = None, {}
    if read_from:
        with warehouse.connect(read_only=True) as conn:
            stored, alongside = read_back(conn, symbol.symbol, read_from=read_from, read_also=read_also,
                                           start=start, end=end, dataset=dataset)
    total = {name: sum(getattr(r, name) for r in reports)
             for name in ("rows", "expected_rows", "confirmed_empty", "retries", "revised", "refused",
                          "history_rewrites")}
    filled: dict[str, int] = {}
    for report in reports:
        for source, rows in report.filled.items():
            filled[source] = filled.get(source, 0) + rows
    return IngestReport(
        **total, missing=pl.concat([r.missing for r in reports]), filled=filled, stored=stored, alongside=alongside,
        source=", ".join(dict.fromkeys(r.source for r in reports)),
        requests=[q for r in reports for q in r.requests], failures=[f for r in reports for f in r.failures],
        passed_over=[f for r in reports for f in r.passed_over],
        quote_notes=[n for r in reports for n in r.quote_notes],
        before_listing=reports[0].before_listing, delisted=reports[-1].delisted,
    )


def _as_instrument(requests: list[RequestRecord], symbol: SymbolSettings) -> list[RequestRecord]:
    """The requests as the instrument's: a renamed instrument's requests for an earlier venue symbol count as asked
    for it (coverage reads `ingest_log` by instrument)."""
    return [r if r.symbol == symbol.symbol else replace(r, symbol=symbol.symbol) for r in requests]


def _decided(exc: ChainExhaustedError) -> bool:
    """Every source of the chain answered the window without a candle (or cannot have: not listed there, too old
    for it), so the pair's listing or delisting may explain it; not when the window failed otherwise (a source down
    may have listed the pair earlier than the one that dates it)."""
    if isinstance(exc, PairNotListedError) or exc.violations or not exc.empty_from:
        return False
    return all(f.kind in _DECIDED for f in exc.failures)


def _outside_listing(exc: ChainExhaustedError, *, end: datetime, expected: int, dated: tuple[str, datetime],
                     kind: str, stored: pl.DataFrame | None, alongside: dict, timeframe_ms: int) -> IngestReport:
    """A window `kind` ("before the listing" or "after the delisting") that the venue `dated[0]` dates at
    `dated[1]`: nothing to store, nothing missing, and said so."""
    venue, moment = dated
    none = pl.Series("ts", [], pl.Datetime("us"))
    return IngestReport(
        rows=0, expected_rows=expected, confirmed_empty=0, source=venue, requests=exc.requests, failures=[],
        missing=missing_ranges(none, start=end, end=end, timeframe_ms=timeframe_ms),
        passed_over=[*exc.failures, SourceFailure(venue, kind, f"{kind} at {moment:%Y-%m-%d %H:%M} UTC")],
        retries=0, filled={}, quote_notes=[], revised=0, refused=0, history_rewrites=0, stored=stored,
        alongside=alongside,
        before_listing=moment if kind == "before the listing" else None,
        delisted=moment if kind == "after the delisting" else None,
    )


def _vouched_holes(result: ChainResult, holes: pl.Series, *, venue_reasons: bool) -> ConfirmedHoles | None:
    """Of `holes` (times the window lacks: closed candles, or funding events due) in an answer every source was asked
    for (`result.holes_confirmed`, which the caller checks before it looks for them), those some answer vouches for
    (between rows of that answer, or in a verified archive file), each with what it means where the venue says, with
    `venue_reasons` (a Binance hole is a halt or maintenance: its reason speaks of klines, so OHLCV datasets only);
    None when there are none."""
    if not holes.len():
        return None
    holes = pl.DataFrame({"ts": holes})
    vouched, reason = pl.lit(False), pl.lit(None, pl.String)
    for source, spans in reversed(result.evidence.items()):  # the first source's reason wins
        inside = pl.any_horizontal(pl.lit(False), *(pl.col("ts").is_between(first, last) for first, last in spans))
        vouched = vouched | inside
        quirks = VENUES.get(source)
        if venue_reasons and quirks is not None and quirks.hole_reason:
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
