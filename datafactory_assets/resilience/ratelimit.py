"""Request budgets per source shared by every process on the machine (pyrate-limiter's SQLite bucket with a file
lock), so concurrent runs together stay inside a venue's limit instead of each keeping its own count.

The file lock guards one SQLite count and insert per request, about a millisecond. filelock polls a contended lock
every 50 ms by default, so with four runs asking at once a request often slept 50 ms for a lock long free again (in
py-spy of `bench/history.py --workload b`, a tenth of the guard's time): ours polls every `LOCK_POLL_S`. That is only
the wait for the bookkeeping; a full budget still makes the limiter sleep until it has room.
"""

from __future__ import annotations

from pathlib import Path

from pyrate_limiter import Limiter, Rate, SQLiteBucket

LOCK_POLL_S = 0.002


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
        self._lock = bucket.limiter_lock()  # filelock's FileLock over the bucket's file
        self._limiter = Limiter(bucket)

    def acquire(self, weight: int = 1) -> None:
        if weight > self.budget:
            raise BudgetExceededError(f"{self.source}: a request of weight {weight} exceeds the whole budget "
                                      f"of {self.budget} per {self.window_s:g}s")
        self._lock.poll_interval = LOCK_POLL_S  # per thread: a FileLock keeps its options apart for each thread
        if not self._limiter.try_acquire(self.source, weight=weight, blocking=True, timeout=self.max_wait_s):
            raise BudgetExceededError(f"{self.source}: no room in the request budget within {self.max_wait_s:.0f}s")
