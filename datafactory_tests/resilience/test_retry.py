import pytest
import tenacity

from datafactory_assets.resilience.retry import RetrySettings, retrying
from datafactory_assets.sources.base import BrokenAnswerError, ErrorKind, SourceError

FAST = RetrySettings(attempts=4, backoff_s=0.001, max_backoff_s=0.01, broken_attempts=2)


def failing(kind: ErrorKind, *, times: int, retry_after_s=None):
    calls = []

    def call():
        calls.append(1)
        if len(calls) <= times:
            raise SourceError(f"{kind} failure", kind=kind, retry_after_s=retry_after_s)
        return "ok"

    return call, calls


@pytest.mark.parametrize("kind", [ErrorKind.THROTTLED, ErrorKind.TRANSIENT])
def test_throttled_and_transient_errors_are_retried_until_success(kind):
    call, calls = failing(kind, times=3)
    assert retrying(FAST)(call) == "ok"
    assert len(calls) == 4


@pytest.mark.parametrize("kind", [ErrorKind.PERMANENT, ErrorKind.BANNED])
def test_permanent_errors_and_bans_are_not_retried(kind):
    call, calls = failing(kind, times=1)
    with pytest.raises(SourceError):
        retrying(FAST)(call)
    assert len(calls) == 1


def test_a_broken_answer_gets_one_more_try_only():
    calls = []

    def garbled():
        calls.append(1)
        raise BrokenAnswerError("not JSON")

    with pytest.raises(BrokenAnswerError):
        retrying(FAST)(garbled)
    assert len(calls) == 2


def test_attempts_are_bounded():
    call, calls = failing(ErrorKind.TRANSIENT, times=10)
    with pytest.raises(SourceError):
        retrying(FAST)(call)
    assert len(calls) == 4


def test_wait_honours_retry_after_and_otherwise_uses_full_jitter():
    slept = []
    settings = RetrySettings(attempts=2, backoff_s=0.01, max_backoff_s=0.1)  # Retry-After is capped at 4x this
    call, _ = failing(ErrorKind.THROTTLED, times=1, retry_after_s=0.3)
    retrying(settings, on_retry=lambda state: slept.append(state.upcoming_sleep))(call)
    assert slept == [pytest.approx(0.3)]
    jitters = []
    for _ in range(30):
        call, _ = failing(ErrorKind.TRANSIENT, times=1)
        retrying(settings, on_retry=lambda state: jitters.append(state.upcoming_sleep))(call)
    assert all(0 <= j <= 0.1 for j in jitters) and len(set(jitters)) > 1  # random, capped


def test_unclassified_exceptions_are_not_retried():
    with pytest.raises(ZeroDivisionError):
        retrying(FAST)(lambda: 1 / 0)
    assert isinstance(retrying(FAST), tenacity.Retrying)
