import time

import pybreaker
import pytest

from datafactory_assets.resilience.breaker import SourceBreaker


def fail():
    raise RuntimeError("venue down")


def breaker(path, **kwargs) -> SourceBreaker:
    return SourceBreaker(path=path, source="binance", **{"fail_max": 3, "reset_timeout_s": 0.5, **kwargs})


def test_state_is_shared_by_every_breaker_on_the_same_file(tmp_path):
    state = tmp_path / "state.sqlite"
    first, second = breaker(state), breaker(state)  # as two run processes would have
    for _ in range(2):
        with pytest.raises(RuntimeError):
            first.call(fail)
    with pytest.raises(RuntimeError):
        second.call(fail)  # the third consecutive failure, counted across both
    assert first.breaker.current_state == second.breaker.current_state == pybreaker.STATE_OPEN
    assert first.blocked_until() is not None
    with pytest.raises(pybreaker.CircuitBreakerError):
        first.call(lambda: "never called")


def test_after_the_cooldown_one_probe_goes_through_and_success_closes_it(tmp_path):
    state = tmp_path / "state.sqlite"
    source = breaker(state)
    for _ in range(3):
        with pytest.raises(RuntimeError):
            source.call(fail)
    time.sleep(0.6)
    assert source.blocked_until() is None
    assert source.call(lambda: "probe") == "probe"
    assert breaker(state).breaker.current_state == pybreaker.STATE_CLOSED


def test_a_ban_blocks_for_its_own_length_and_is_visible_to_others(tmp_path):
    state = tmp_path / "state.sqlite"
    breaker(state).ban(30, "banned: HTTP 451")
    other = breaker(state)
    assert other.blocked_until() == pytest.approx(time.time() + 30, abs=2)
    time.sleep(0.6)  # longer than the breaker's own cooldown: the ban still holds
    assert other.blocked_until() is not None
