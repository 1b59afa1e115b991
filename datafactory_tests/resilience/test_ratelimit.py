import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import pytest

from datafactory_assets.resilience.ratelimit import BudgetExceededError, SourceLimiter


def take(path: str, count: int) -> int:
    limiter = SourceLimiter(path=path, source="binance", budget=20, max_wait_s=0.5)
    taken = 0
    for _ in range(count):
        try:
            limiter.acquire(1)
            taken += 1
        except BudgetExceededError:
            pass
    return taken


def test_processes_share_one_budget(tmp_path):
    path = str(tmp_path / "state.sqlite")
    with ProcessPoolExecutor(max_workers=3, mp_context=multiprocessing.get_context("spawn")) as pool:
        taken = list(pool.map(take, [path] * 3, [12] * 3))
    assert sum(taken) == 20, taken


def test_weights_count_and_an_impossible_request_is_refused(tmp_path):
    limiter = SourceLimiter(path=tmp_path / "s.sqlite", source="binance", budget=10, max_wait_s=0.2)
    began = time.monotonic()
    for _ in range(5):
        limiter.acquire(2)
    assert time.monotonic() - began < 0.5
    with pytest.raises(BudgetExceededError, match="no room"):
        limiter.acquire(2)
    with pytest.raises(BudgetExceededError, match="exceeds the whole budget"):
        limiter.acquire(11)
