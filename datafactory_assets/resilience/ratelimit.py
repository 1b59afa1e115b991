"""Request budgets per source shared by every process on the machine (pyrate-limiter's SQLite bucket with a file
lock), so concurrent runs together stay inside a venue's limit instead of each keeping its own count."""

from __future__ import annotations

from pathlib import Path

from pyrate_limiter import Limiter, Rate, SQLiteBucket


class BudgetExceededError(RuntimeError):
    """The budget did not free up within the wait we allow; the caller treats it as throttling."""


class SourceLimiter:
    """`acquire(weight)` blocks until the source's budget (`budget` per `window_s` seconds) has room for it."""

    def __init__(self, *, path: str | Path, source: str, budget: int, window_s: float = 60.0,
                 max_wait_s: float = 120.0):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.source = source
        self.budget = budget
        self.window_s = window_s
        self.max_wait_s = max_wait_s
        bucket = SQLiteBucket.init_from_file([Rate(budget, int(window_s * 1000))], table=f"budget_{source}",
                                             db_path=str(path), use_file_lock=True)
        self._limiter = Limiter(bucket)

    def acquire(self, weight: int = 1) -> None:
        if weight > self.budget:
            raise BudgetExceededError(f"{self.source}: a request of weight {weight} exceeds the whole budget "
                                      f"of {self.budget} per {self.window_s:g}s")
        if not self._limiter.try_acquire(self.source, weight=weight, blocking=True, timeout=self.max_wait_s):
            raise BudgetExceededError(f"{self.source}: no room in the request budget within {self.max_wait_s:.0f}s")
