"""Everything that stands between the platform and one source's requests: its budget, retries, breaker and ban."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pybreaker

from datafactory_assets.resilience.breaker import SourceBreaker
from datafactory_assets.resilience.ratelimit import BudgetExceededError, SourceLimiter
from datafactory_assets.resilience.retry import RetrySettings, retrying
from datafactory_assets.sources.base import ErrorKind, SourceError, SourceUnavailableError

log = logging.getLogger(__name__)


def _not_a_venue_failure(exc: BaseException) -> bool:
    """A bad symbol or request says nothing about the venue's health, so it does not count towards its breaker."""
    return isinstance(exc, SourceError) and exc.kind is ErrorKind.PERMANENT


class SourceGuard:
    """`run(fn, weight=...)`: take budget, call with retries, count the outcome on the breaker, ban on 418/451."""

    def __init__(self, *, source: str, limiter: SourceLimiter | None, breaker: SourceBreaker, retry: RetrySettings,
                 ban_s: float):
        self.source = source
        self.limiter = limiter
        self.breaker = breaker
        self.retry = retry
        self.ban_s = ban_s
        self.retries = 0
        breaker.breaker.add_excluded_exception(_not_a_venue_failure)

    def blocked_reason(self) -> str | None:
        until = self.breaker.blocked_until()
        if until is None:
            return None
        return f"{self.source}: breaker open until {datetime.fromtimestamp(until, UTC):%Y-%m-%d %H:%M:%S} UTC"

    def run(self, fn, *, weight: int = 1):
        reason = self.blocked_reason()
        if reason:
            raise SourceUnavailableError(reason)

        def attempt():
            if self.limiter is not None:
                try:
                    self.limiter.acquire(weight)
                except BudgetExceededError as exc:
                    raise SourceError(str(exc), kind=ErrorKind.THROTTLED) from exc
            return fn()

        try:
            return self.breaker.call(lambda: retrying(self.retry, on_retry=self._count_retry)(attempt))
        except pybreaker.CircuitBreakerError as exc:
            raise SourceUnavailableError(f"{self.source}: breaker open ({exc})") from exc
        except SourceError as exc:
            if exc.kind is ErrorKind.BANNED:
                seconds = max(exc.retry_after_s or 0.0, self.ban_s)
                log.warning("%s banned us (%s); not asking it for %.0fs", self.source, exc, seconds)
                self.breaker.ban(seconds, f"{exc.kind}: {exc}")
            elif exc.kind is not ErrorKind.PERMANENT:
                self.breaker.record_error(f"{exc.kind}: {exc}")
            raise

    def _count_retry(self, state) -> None:
        self.retries += 1
        log.info("%s: retry %d after %s", self.source, state.attempt_number, state.outcome.exception())
