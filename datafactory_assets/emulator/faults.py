"""Injectable faults, written `VENUE:KIND[:ARG...][@COUNT]`, e.g. `binance:status:429:5@2` or `binance:holes:0.2`.

A fault hits only data requests (candles) of its venue, so clients still load their markets. With `@COUNT` it hits
the next COUNT such requests and then expires; without, it stays until cleared. When several are active, the oldest
applies. A kind is one entry in `KINDS`: how to check its arguments, and how to answer instead of the normal answer.

Every kind works for every venue: error kinds use the venue's own error shape, and kinds that alter candles alter
the page the store selects and let the venue render it (`Venue.with_store`), so the body is in the venue's dialect
with every derived field (close times, cursors) consistent with the altered candles.

`rate:VALUE` (e.g. `okx:rate:0.01`) serves every funding event of the venue's funding-history pages at the rate
VALUE, candles untouched: a venue serving rates beyond the cap it states, which a venue that clamps never does.

`barrier:SYMBOL,SYMBOL[,...][:SECONDS]` (the venue's own spelling, e.g. `binance:barrier:BTCUSDT,ETHUSDT`) holds each
data request for one of the symbols until a request for every one of them has arrived, then answers normally; a
request still alone after SECONDS gets the venue's 503. Clients that fetch the symbols one after another therefore
fail, clients that fetch them at the same time pass: a concurrency test without a timing assumption.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from datafactory_assets.emulator.budget import with_retry_after
from datafactory_assets.emulator.candles import unit_hash
from datafactory_assets.emulator.store import CandleStore, Page
from datafactory_assets.emulator.venue import Request, Response, Venue

logger = logging.getLogger(__name__)

# Truncated mid-row: starts like a kline page, so only a real JSON parse can tell it is broken.
GARBAGE_BODY = b'[[1700000000000,"1.0","2.0"'
RETRY_STATUSES = {418, 429, 503}
DEFAULT_TIMEOUT_S = 30.0  # well past ccxt's default 10 s timeout
DEFAULT_BARRIER_S = 8.0  # inside ccxt's default 10 s timeout, so a lone request reads as a 503, not a timeout
DEFAULT_HOLE_FRACTION = 0.1
DUPLICATE_EVERY = 10
SPIKE_FACTOR = 100
_SHUFFLE_SEED = 20240301


@dataclass
class Fault:
    """One parsed spec; `remaining` counts down the requests it still hits (None: until cleared); `state` is what
    its kind remembers across requests (a barrier's arrivals), None for the others."""

    spec: str
    venue: str
    kind: str
    args: tuple[str, ...]
    remaining: int | None
    state: object = field(default=None, compare=False)


@dataclass(frozen=True)
class FaultKind:
    """`check` raises ValueError for bad arguments; `apply` answers (fault, *, venue, request) instead of the venue;
    `state`, when given, builds the fault's memory across requests from its arguments."""

    check: Callable[[tuple[str, ...]], None]
    apply: Callable[..., Response]
    state: Callable[[tuple[str, ...]], object] | None = None


class Hangup(Exception):
    """Raised instead of an answer: the server holds the connection `after_s` seconds and closes it, with a TCP
    reset when `abrupt`."""

    def __init__(self, *, after_s: float, abrupt: bool):
        super().__init__(f"hang up after {after_s:g} s{' with a reset' if abrupt else ''}")
        self.after_s, self.abrupt = after_s, abrupt


def _no_args(args: tuple[str, ...]) -> None:
    if args:
        raise ValueError("this kind takes no argument")


def _number(args: tuple[str, ...], *, low: float, high: float, what: str) -> None:
    """At most one argument, a number in [low, high]."""
    try:
        if len(args) > 1 or (args and not low <= float(args[0]) <= high):
            raise ValueError
    except ValueError:
        raise ValueError(f"this kind takes at most one argument, {what}") from None


def _check_seconds(args: tuple[str, ...]) -> None:
    _number(args, low=0, high=86_400, what="the seconds to hold the request (up to a day)")


def _check_fraction(args: tuple[str, ...]) -> None:
    _number(args, low=0, high=1, what="the fraction of candles to drop (0 to 1)")


def _check_status(args: tuple[str, ...]) -> None:
    if not 1 <= len(args) <= 2 or not all(arg.isdigit() for arg in args):
        raise ValueError("status takes an HTTP code and, for 418/429/503, an optional Retry-After in seconds")
    if not 400 <= int(args[0]) <= 599:
        raise ValueError(f"status code {args[0]} is not an HTTP error (400-599)")


def _status(fault: Fault, *, venue: Venue, request: Request) -> Response:
    """The venue's own error body, so the client maps it to the exception it raises for the real thing."""
    code = int(fault.args[0])
    answer = venue.error(code, f"injected fault {fault.spec}")
    if code in RETRY_STATUSES:
        return with_retry_after(answer, fault.args[1] if len(fault.args) > 1 else "1")
    return answer


def _garbage(fault: Fault, *, venue: Venue, request: Request) -> Response:
    """A 200 whose body is not JSON: ccxt reads it as "no candles", which a client must not trust."""
    return Response(status=200, body=GARBAGE_BODY)


def _empty(fault: Fault, *, venue: Venue, request: Request) -> Response:
    """A well-formed answer with no candles, as venues give for windows they have no data for."""
    return venue.empty()


def _timeout(fault: Fault, *, venue: Venue, request: Request) -> Response:
    """No answer for SECONDS (less if the client gives up first), then a plain close."""
    raise Hangup(after_s=float(fault.args[0]) if fault.args else DEFAULT_TIMEOUT_S, abrupt=False)


def _reset(fault: Fault, *, venue: Venue, request: Request) -> Response:
    """No answer at all: the connection is reset at once."""
    raise Hangup(after_s=0.0, abrupt=True)


class Barrier:
    """Which of its symbols have sent a request since the fault was added; opens once all of them have."""

    def __init__(self, args: tuple[str, ...]):
        self.symbols = frozenset(args[0].split(","))
        self.wait_s = float(args[1]) if len(args) > 1 else DEFAULT_BARRIER_S
        self._arrived: set[str] = set()
        self._changed = threading.Condition()

    def symbol_of(self, request: Request) -> str | None:
        """The barrier's symbol the request names, as a query value (`symbol=BTCUSDT`, `instId=BTC-USDT`) or a path
        segment (`/products/BTC-USD/candles`), whichever the venue uses."""
        named = set(request.query.values()) | set(request.path.split("/"))
        return next(iter(self.symbols & named), None)

    def arrive(self, symbol: str) -> bool:
        """Count `symbol` as arrived and wait (at most `wait_s`) until every symbol has; whether they all did."""
        with self._changed:
            self._arrived.add(symbol)
            self._changed.notify_all()
            return self._changed.wait_for(lambda: self._arrived >= self.symbols, timeout=self.wait_s)


def _check_rate(args: tuple[str, ...]) -> None:
    what = "the funding rate to serve, from -1 to 1 (e.g. 0.01)"
    if not args:
        raise ValueError(f"this kind takes one argument, {what}")
    _number(args, low=-1, high=1, what=what)


def _check_barrier(args: tuple[str, ...]) -> None:
    symbols = args[0].split(",") if args else []
    if not 1 <= len(args) <= 2 or len(set(symbols)) < 2 or not all(symbols):
        raise ValueError("barrier takes two or more symbols in the venue's spelling, comma-separated, and "
                         "optionally the seconds a request waits for the others")
    _number(args[1:], low=0, high=3_600, what="the seconds a request waits for the others (up to an hour)")


def _barrier(fault: Fault, *, venue: Venue, request: Request) -> Response:
    """Requests for other symbols pass; one for a barrier symbol is answered once all have arrived, or a 503."""
    barrier: Barrier = fault.state
    symbol = barrier.symbol_of(request)
    if symbol is None or barrier.arrive(symbol):
        return venue.respond(request)
    waiting_for = ", ".join(sorted(barrier.symbols - {symbol}))
    return with_retry_after(venue.error(503, f"injected fault {fault.spec}: {symbol} waited {barrier.wait_s:g} s "
                                             f"for a request for {waiting_for}"), "1")


class AlteredStore:
    """A `CandleStore` whose pages come altered by `alter(symbol, frame, series)`; everything else is the store's.

    Altered pages are never final (never cached) unless `keeps_final`: a fault's pages must not outlive it, while a
    deterministic alteration that the cache key names (a price offset) may keep the page's own finality.
    """

    def __init__(self, store: CandleStore, alter: Callable[[str, pl.DataFrame, str], pl.DataFrame], *,
                 keeps_final: bool = False):
        self._store, self._alter, self._keeps_final = store, alter, keeps_final

    def page(self, symbol: str, **selection) -> Page:
        page = self._store.page(symbol, **selection)
        frame = self._alter(symbol, page.frame, selection.get("series", "trade"))
        return Page(frame=frame, final=self._keeps_final and page.final)

    def __getattr__(self, name: str):
        return getattr(self._store, name)


def _altering(alter: Callable[[Fault, pl.DataFrame], pl.DataFrame]) -> Callable[..., Response]:
    """A kind's `apply` that has the venue answer as usual from a store whose pages `alter` changed."""

    def apply(fault: Fault, *, venue: Venue, request: Request) -> Response:
        return venue.with_store(AlteredStore(venue.store, lambda _, frame, __: alter(fault, frame))).respond(request)

    return apply


def _duplicates(fault: Fault, frame: pl.DataFrame) -> pl.DataFrame:
    """The first candle and every tenth after it sent twice in a row: the page holds a tenth more rows."""
    index = np.arange(frame.height)
    return frame[np.repeat(index, np.where(index % DUPLICATE_EVERY == 0, 2, 1))]


def _shuffle(fault: Fault, frame: pl.DataFrame) -> pl.DataFrame:
    """The same candles in a fixed scrambled order, never the right one when there are two or more."""
    order = np.random.default_rng(_SHUFFLE_SEED).permutation(frame.height)
    if (order == np.arange(frame.height)).all():
        order = order[::-1]
    return frame[order]


def _holes(fault: Fault, frame: pl.DataFrame) -> pl.DataFrame:
    """Drops the candles whose open time hashes below FRACTION: a retry or an overlapping page misses the same ones."""
    fraction = float(fault.args[0]) if fault.args else DEFAULT_HOLE_FRACTION
    return frame.filter(pl.Series(unit_hash(frame["open_ms"].to_numpy().astype(np.uint64)) >= fraction))


def _spike(fault: Fault, frame: pl.DataFrame) -> pl.DataFrame:
    """The middle candle closes at 100x, its high raised to match: OHLC invariants hold, only a jump check sees it.
    Pages that are not candles (funding events, open interest) pass unchanged."""
    if "close" not in frame.columns:
        return frame
    middle = pl.int_range(pl.len()) == frame.height // 2
    spiked = (pl.col("close") * SPIKE_FACTOR).round(8)
    frame = frame.with_columns(close=pl.when(middle).then(spiked).otherwise(pl.col("close")))
    return frame.with_columns(high=pl.when(middle).then(pl.max_horizontal("high", "close")).otherwise(pl.col("high")))


def _rate(fault: Fault, frame: pl.DataFrame) -> pl.DataFrame:
    """Every funding event at the rate the fault names; pages that are not funding events pass unchanged."""
    if "rate" not in frame.columns:
        return frame
    return frame.with_columns(rate=pl.lit(float(fault.args[0])))


KINDS: dict[str, FaultKind] = {
    "status": FaultKind(_check_status, _status),
    "garbage": FaultKind(_no_args, _garbage),
    "empty": FaultKind(_no_args, _empty),
    "timeout": FaultKind(_check_seconds, _timeout),
    "reset": FaultKind(_no_args, _reset),
    "duplicates": FaultKind(_no_args, _altering(_duplicates)),
    "shuffle": FaultKind(_no_args, _altering(_shuffle)),
    "holes": FaultKind(_check_fraction, _altering(_holes)),
    "spike": FaultKind(_no_args, _altering(_spike)),
    "rate": FaultKind(_check_rate, _altering(_rate)),
    "barrier": FaultKind(_check_barrier, _barrier, state=Barrier),
}


def parse_fault(spec: str, *, venues: Collection[str]) -> Fault:
    """Parse and check `VENUE:KIND[:ARG...][@COUNT]`; ValueError names the spec and the valid venues and kinds."""
    body, at, count_text = spec.strip().partition("@")
    venue, _, rest = body.partition(":")
    kind, *args = rest.split(":") if rest else [""]
    try:
        if venue not in venues:
            raise ValueError(f"unknown venue {venue!r} (valid: {', '.join(sorted(venues))})")
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        KINDS[kind].check(tuple(args))
        if at and (not count_text.isdigit() or int(count_text) < 1):
            raise ValueError(f"@COUNT must be a positive whole number, got {count_text!r}")
    except ValueError as exc:
        raise ValueError(
            f"bad fault spec {spec!r}: {exc}; write VENUE:KIND[:ARG][@COUNT] with KIND one of {', '.join(KINDS)}"
        ) from None
    state = KINDS[kind].state
    return Fault(spec=spec.strip(), venue=venue, kind=kind, args=tuple(args), remaining=int(count_text) if at else None,
                 state=state(tuple(args)) if state else None)


def apply_fault(fault: Fault, *, venue: Venue, request: Request) -> Response:
    """The answer `venue` gives to `request` under `fault`; raises `Hangup` for kinds that answer nothing."""
    return KINDS[fault.kind].apply(fault, venue=venue, request=request)


class FaultBook:
    """The active faults of one emulator, safe to use from the server's request threads."""

    def __init__(self, venues: Collection[str]):
        self._venues = tuple(venues)
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, spec: str) -> Fault:
        fault = parse_fault(spec, venues=self._venues)
        with self._lock:
            self._faults.append(fault)
        logger.info("fault added: %s", fault.spec)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[dict]:
        with self._lock:
            return [{"spec": f.spec, "remaining": f.remaining} for f in self._faults]

    def take(self, venue: str) -> Fault | None:
        """The fault hitting the next data request to `venue`, counting it against the fault's @COUNT."""
        with self._lock:
            for fault in self._faults:
                if fault.venue == venue:
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._faults.remove(fault)
                    return fault
        return None
