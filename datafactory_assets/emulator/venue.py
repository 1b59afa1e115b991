"""What every venue dialect provides to the server: a request in, a response out, plus its error and empty shapes.

A dialect is one module (`binance.py`, later `okx.py`, ...) with one `Venue` subclass, registered in
`server.VENUES`. It never touches sockets, so it is testable by calling `respond` directly.
"""

from __future__ import annotations

import copy
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field

from datafactory_assets.emulator.store import CandleStore


@dataclass(frozen=True)
class Request:
    """One HTTP request as a venue sees it: `path` is the venue's own path (`/api/v3/klines`), without `/{venue}`."""

    method: str
    path: str
    query: dict[str, str]
    now_ms: int


@dataclass(frozen=True)
class Response:
    """An answer; `cacheable` marks bodies that can never change (pages entirely in the past)."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    cacheable: bool = False


def json_response(status: int, payload, *, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer with compact separators, as exchanges send them."""
    return Response(status=status, body=json.dumps(payload, separators=(",", ":")).encode(), headers=headers or {})


@dataclass(frozen=True)
class RateBudget:
    """A venue's real request budget: `amount` units per rolling `window_s`, a request costing `weights[path]` or 1.

    `ban_s` is the first IP ban (HTTP 418) for a client that sends again while a 429 told it to wait, doubling on
    each repeat; None for venues that just keep answering 429. `bans_at_once` venues skip the 429: the first request
    over budget starts the ban (Bybit). Enforced only when the emulator is given budgets.
    """

    amount: int
    window_s: float
    weights: Mapping[str, int] = field(default_factory=dict)
    ban_s: float | None = None
    bans_at_once: bool = False


class Venue(ABC):
    """One exchange dialect over a `CandleStore`."""

    id: str
    rate_budget = RateBudget(amount=50, window_s=1.0)  # generous; a dialect declares its venue's real one

    def __init__(self, store: CandleStore):
        self.store = store

    @abstractmethod
    def respond(self, request: Request) -> Response:
        """The normal answer to `request` (faults are applied by the server around it)."""

    @abstractmethod
    def is_data(self, request: Request) -> bool:
        """Whether `request` asks for candles: faults hit only those, not pings or market lists."""

    @abstractmethod
    def error(self, status: int, message: str) -> Response:
        """An error answer in the venue's own shape."""

    @abstractmethod
    def empty(self) -> Response:
        """A successful answer holding no candles, in the venue's own shape."""

    def usage_headers(self, request: Request) -> dict[str, str]:
        """Per-request headers such as rate-limit counters, added to every answer including faulty and cached ones."""
        return {}

    def with_store(self, store: CandleStore) -> Venue:
        """This venue reading its candles from `store`: faults that alter candles have the venue render them itself.

        The default is a shallow copy; a dialect that reaches its candles other than through `self.store` overrides it.
        """
        venue = copy.copy(self)
        venue.store = store
        return venue
