"""What the shared request budget costs each request when several runs ask at once, the budget never binding.

PROCESSES processes share one `SourceLimiter` file (as the run workers of a backfill do) and each takes REQUESTS
requests of weight 2, a 2 ms pause standing in for each request itself. Prints one JSON line: the seconds each
process took and the mean overhead per request beyond the pauses (waiting for the bucket's file lock and its SQLite
count and insert).
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datafactory_assets.resilience.ratelimit import SourceLimiter  # noqa: E402

PROCESSES, REQUESTS, PAUSE_S = 4, 300, 0.002


def ask(path: str) -> float:
    limiter = SourceLimiter(path=path, source="binance", budget=1_000_000)
    began = time.perf_counter()
    for _ in range(REQUESTS):
        limiter.acquire(2)
        time.sleep(PAUSE_S)
    return time.perf_counter() - began


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
            seconds = pool.map(ask, [str(Path(tmp) / "state.sqlite")] * PROCESSES)
    overhead_ms = 1000 * (sum(seconds) / PROCESSES / REQUESTS - PAUSE_S)
    print(json.dumps({"processes": PROCESSES, "requests": REQUESTS, "seconds": [round(s, 2) for s in seconds],
                      "overhead_ms_per_request": round(overhead_ms, 2)}))


if __name__ == "__main__":
    main()
