"""How long writers wait for the warehouse lock when several runs write at once: what `lock_timeout_s` must cover.

WRITERS processes start together, each upserting one run's worth of candles (720 hourly partitions of 1m candles,
43,200 rows, the default `partitions_per_run`) of its own symbol through `WarehouseResource.connect`, into a warehouse
that already holds a year of candles for each symbol. Each round writes the run after the previous round's, so every
write stores new candles (re-writing held ones unchanged writes nothing: `bench/rewrite.py` times that). Each
writer reports how long it waited for the lock and how long it held it (open, schema check, transaction, close).
Prints one JSON line: per writer count, the longest hold, the longest wait, how long the lock lay free while a
writer waited for it (`idle_s`: from the first hold to the last release, less every hold: the time a hand-over
takes), and the CPU seconds the waiters spent waiting, all their threads summed (`wait_cpu_s`: what polling costs).
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datafactory_assets.emulator.candles import synthetic_candles  # noqa: E402
from datafactory_assets.frames import candles_from_columns  # noqa: E402
from datafactory_assets.settings import SymbolSettings  # noqa: E402
from datafactory_assets.warehouse import WarehouseResource  # noqa: E402
from datafactory_assets.warehouse.file_lock import hold  # noqa: E402
from datafactory_assets.warehouse.writes import upsert_candles  # noqa: E402

START = datetime(2024, 1, 1, tzinfo=UTC)
HISTORY = timedelta(days=365)
RUN = timedelta(hours=720)
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "ADA/USDT", "DOGE/USDT")


def candles(symbol: str, start: datetime, end: datetime):
    frame = synthetic_candles(symbol, int(start.timestamp() * 1000), int(end.timestamp() * 1000))
    return candles_from_columns(frame, symbol=symbol, source="bench")


def seed(path: str) -> None:
    warehouse = WarehouseResource(path=path)
    for symbol in SYMBOLS:
        with warehouse.connect() as conn:
            upsert_candles(conn, candles(symbol, START, START + HISTORY), symbol=settings(symbol))


def settings(symbol: str) -> SymbolSettings:
    return SymbolSettings(symbol=symbol, timeframe="1m", start=START, sources=("binance",))


def write(path: str, symbol: str, go: float, round_: int) -> tuple[float, float, float, float, float]:
    """(seconds waiting for the lock, seconds holding it, wall times of the hold's start and end, CPU seconds of the
    wait) for one run's write, starting at wall time `go`."""
    first = START + HISTORY + round_ * RUN  # a run's range after what is stored: new candles
    frame = candles(symbol, first, first + RUN)
    warehouse = WarehouseResource(path=path, lock_timeout_s=3600)
    time.sleep(max(go - time.time(), 0))
    asked, asked_cpu = time.perf_counter(), time.process_time()
    with hold(Path(path), shared=False, timeout_s=3600):  # measured apart from connect's own, re-entrant hold
        locked, began, waited_cpu = time.perf_counter(), time.time(), time.process_time() - asked_cpu
        with warehouse.connect() as conn:
            upsert_candles(conn, frame, symbol=settings(symbol))
        held = time.perf_counter() - locked
    return locked - asked, held, began, time.time(), waited_cpu


def main() -> None:
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "bench.duckdb")
        seed(path)
        context = multiprocessing.get_context("spawn")
        for round_, writers in enumerate((1, 2, 4, 6)):
            with context.Pool(writers) as pool:
                go = time.time() + 3  # every process imported before any starts
                results = pool.starmap(write, [(path, SYMBOLS[i], go, round_) for i in range(writers)])
            waits, holds, began, ended, wait_cpu = zip(*results, strict=True)
            figures[writers] = {"max_hold_s": round(max(holds), 2), "max_wait_s": round(max(waits), 2),
                                "idle_s": round(max(ended) - min(began) - sum(holds), 3),
                                "wait_cpu_s": round(sum(wait_cpu), 3)}
    print(json.dumps({"rows_per_write": int(RUN.total_seconds() // 60), "writers": figures}))


if __name__ == "__main__":
    main()
