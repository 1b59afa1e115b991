"""Rate budgets: each venue's request budget per rolling window, refused the way the venue refuses.

Off unless configured, per venue, in the venue's own unit (Binance: request weight per minute). A request over budget
gets 429 with `Retry-After`, the whole seconds until the window frees enough for it; a request sent before that wait
is over starts an IP ban where the venue has them (Binance: 418, from 2 minutes, doubling on each repeat up to 3 days),
and every request gets 418 (in the venue's own shape: Bybit's is a 403) until the ban ends; a venue that bans at
once (Bybit) starts the ban with the first request over budget. All clients share one budget per venue, as they share
one IP: client processes that don't coordinate get refused and banned together, as they would be by the real venue.
Refused requests spend nothing.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from datafactory_assets.emulator.venue import RateBudget, Response, Venue

MAX_BAN_S = 3 * 86_400


@dataclass(frozen=True)
class Refusal:
    """Why a request is not served: 429 (over budget) or 418 (banned), and when to come back."""

    status: int
    retry_after_s: int
    message: str

    def answer(self, venue: Venue) -> Response:
        """The venue's own error body for this refusal, with `Retry-After`."""
        return with_retry_after(venue.error(self.status, self.message), self.retry_after_s)


def with_retry_after(response: Response, seconds: int | str) -> Response:
    headers = {**response.headers, "Retry-After": str(seconds)}
    return Response(status=response.status, body=response.body, headers=headers)


class _Account:
    """One venue's enforced budget: the weights spent in the window, and the wait or ban refusals started."""

    def __init__(self, budget: RateBudget, amount: int):
        self.budget, self.amount = budget, amount
        self.spent: deque[tuple[float, int]] = deque()  # (time, weight) of the admitted requests in the window
        self.used = 0
        self.wait_until = self.banned_until = -math.inf
        self.bans = 0

    def admit(self, weight: int, *, now: float) -> Refusal | None:
        if now < self.banned_until:
            return self._banned(now)
        if now < self.wait_until and self.budget.ban_s is not None:
            return self._ban(now)
        self._expire(now)
        if self.used + weight > self.amount and self.budget.bans_at_once:
            return self._ban(now)
        if self.used + weight > self.amount:
            retry_after = max(1, math.ceil(self._frees_at(self.used + weight - self.amount, now=now) - now))
            self.wait_until = now + retry_after
            message = (f"Too much request weight used; current limit is {self.amount} request weight per "
                       f"{self.budget.window_s:g} seconds.")
            return Refusal(status=429, retry_after_s=retry_after, message=message)
        self.spent.append((now, weight))
        self.used += weight
        return None

    def state(self, *, now: float) -> dict:
        self._expire(now)
        return {"amount": self.amount, "window_s": self.budget.window_s, "used": self.used, "bans": self.bans,
                "banned_for_s": max(0.0, self.banned_until - now)}

    def _ban(self, now: float) -> Refusal:
        self.bans += 1
        self.banned_until = now + min(self.budget.ban_s * 2 ** (self.bans - 1), MAX_BAN_S)
        return self._banned(now)

    def _banned(self, now: float) -> Refusal:
        until_ms = time.time_ns() // 1_000_000 + round((self.banned_until - now) * 1000)
        return Refusal(status=418, retry_after_s=math.ceil(self.banned_until - now),
                       message=f"Way too much request weight used; IP banned until {until_ms}.")

    def _expire(self, now: float) -> None:
        while self.spent and self.spent[0][0] <= now - self.budget.window_s:
            self.used -= self.spent.popleft()[1]

    def _frees_at(self, excess: int, *, now: float) -> float:
        """When enough of the spent weight has left the window to free `excess` (a full window if it never will)."""
        freed = 0
        for spent_at, weight in self.spent:
            freed += weight
            if freed >= excess:
                return spent_at + self.budget.window_s
        return now + self.budget.window_s


class RateBudgets:
    """The enforced budgets of one emulator, keyed by venue id; safe to use from the server's request threads."""

    def __init__(self, declared: Mapping[str, RateBudget], *, clock: Callable[[], float] = time.monotonic):
        self._declared = dict(declared)
        self._accounts: dict[str, _Account] = {}
        self._clock = clock
        self._lock = threading.Lock()

    def set(self, venue: str, amount: int | None = None) -> None:
        """Enforce `amount` (default: the venue's real budget) from now on, with a fresh window and no ban."""
        if venue not in self._declared:
            raise ValueError(f"unknown venue {venue!r} (valid: {', '.join(sorted(self._declared))})")
        budget = self._declared[venue]
        amount = budget.amount if amount is None else amount
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
            raise ValueError(f"a budget is a positive whole number of {venue}'s units per {budget.window_s:g} s, "
                             f"got {amount!r}")
        with self._lock:
            self._accounts[venue] = _Account(budget, amount)

    def clear(self, venue: str | None = None) -> None:
        """Stop enforcing `venue`'s budget, or every budget."""
        with self._lock:
            if venue is None:
                self._accounts.clear()
            else:
                self._accounts.pop(venue, None)

    def active(self) -> dict[str, dict]:
        with self._lock:
            now = self._clock()
            return {venue: account.state(now=now) for venue, account in self._accounts.items()}

    def admit(self, venue: str, path: str) -> Refusal | None:
        """Spend the weight of a request for `path` on `venue`, or say why it is refused."""
        with self._lock:
            account = self._accounts.get(venue)
            if account is None:
                return None
            return account.admit(account.budget.weights.get(path, 1), now=self._clock())
