"""Retry with exponential backoff and full jitter (tenacity), honouring a venue's Retry-After; only errors
classified as throttled, transient or (briefly) broken are retried."""

from __future__ import annotations

from dataclasses import dataclass

import tenacity
from tenacity import RetryCallState

from datafactory_assets.sources.base import ErrorKind, SourceError

_RETRIED = {ErrorKind.THROTTLED, ErrorKind.TRANSIENT}


@dataclass(frozen=True)
class RetrySettings:
    """How hard to try one request: attempts in all, the backoff base and cap, and the attempts a broken answer
    gets (a truncated body may be a one-off; a venue that keeps sending garbage should be failed over quickly)."""

    attempts: int = 4
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    broken_attempts: int = 2


def _retryable(settings: RetrySettings):
    def decide(state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if not isinstance(exc, SourceError):
            return False
        if exc.kind is ErrorKind.BROKEN:
            return state.attempt_number < settings.broken_attempts
        return exc.kind in _RETRIED

    return decide


def _wait(settings: RetrySettings):
    jitter = tenacity.wait_random_exponential(multiplier=settings.backoff_s, max=settings.max_backoff_s)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after_s", None) or 0.0
        return max(min(retry_after, settings.max_backoff_s * 4), jitter(state))

    return wait


def retrying(settings: RetrySettings, *, on_retry=None) -> tenacity.Retrying:
    """A tenacity `Retrying` for one request; `on_retry(state)` is told before each sleep."""
    return tenacity.Retrying(
        retry=_retryable(settings),
        wait=_wait(settings),
        stop=tenacity.stop_after_attempt(settings.attempts),
        before_sleep=on_retry,
        reraise=True,
    )
