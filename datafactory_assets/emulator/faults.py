"""Injectable faults, written `VENUE:KIND[:ARG...][@COUNT]`, e.g. `binance:status:429:5@2` or `binance:garbage`.

A fault hits only data requests (candles) of its venue, so clients still load their markets. With `@COUNT` it hits
the next COUNT such requests and then expires; without, it stays until cleared. When several are active, the oldest
applies. A kind is one entry in `KINDS`: how to check its arguments, and how to turn the normal answer into a bad one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass

from datafactory_assets.emulator.venue import Response, Venue

logger = logging.getLogger(__name__)

# Truncated mid-row: starts like a kline page, so only a real JSON parse can tell it is broken.
GARBAGE_BODY = b'[[1700000000000,"1.0","2.0"'
_RETRY_STATUSES = {418, 429}


@dataclass
class Fault:
    """One parsed spec; `remaining` counts down the requests it still hits (None: until cleared)."""

    spec: str
    venue: str
    kind: str
    args: tuple[str, ...]
    remaining: int | None


@dataclass(frozen=True)
class FaultKind:
    """`check` raises ValueError for bad arguments; `apply` turns (fault, venue, normal answer) into the answer."""

    check: Callable[[tuple[str, ...]], None]
    apply: Callable[..., Response]  # (fault, *, venue, normal) -> the answer to send


def _check_status(args: tuple[str, ...]) -> None:
    if not 1 <= len(args) <= 2 or not all(arg.isdigit() for arg in args):
        raise ValueError("status takes an HTTP code and, for 418/429, an optional Retry-After in seconds")
    if not 400 <= int(args[0]) <= 599:
        raise ValueError(f"status code {args[0]} is not an HTTP error (400-599)")


def _status(fault: Fault, *, venue: Venue, normal: Callable[[], Response]) -> Response:
    """The venue's own error body, so the client maps it to the exception it raises for the real thing."""
    code = int(fault.args[0])
    answer = venue.error(code, f"injected fault {fault.spec}")
    if code in _RETRY_STATUSES:
        retry_after = fault.args[1] if len(fault.args) > 1 else "1"
        return Response(status=answer.status, body=answer.body, headers={**answer.headers, "Retry-After": retry_after})
    return answer


def _garbage(fault: Fault, *, venue: Venue, normal: Callable[[], Response]) -> Response:
    """A 200 whose body is not JSON: ccxt reads it as "no candles", which a client must not trust."""
    return Response(status=200, body=GARBAGE_BODY)


def _empty(fault: Fault, *, venue: Venue, normal: Callable[[], Response]) -> Response:
    """A well-formed answer with no candles, as venues give for windows they have no data for."""
    return venue.empty()


def _no_args(args: tuple[str, ...]) -> None:
    if args:
        raise ValueError("this kind takes no argument")


KINDS: dict[str, FaultKind] = {
    "status": FaultKind(_check_status, _status),
    "garbage": FaultKind(_no_args, _garbage),
    "empty": FaultKind(_no_args, _empty),
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
    return Fault(spec=spec.strip(), venue=venue, kind=kind, args=tuple(args), remaining=int(count_text) if at else None)


def apply_fault(fault: Fault, *, venue: Venue, normal: Callable[[], Response]) -> Response:
    """The answer `venue` gives under `fault`; `normal` computes the fault-free answer, for kinds that alter it."""
    return KINDS[fault.kind].apply(fault, venue=venue, normal=normal)


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
