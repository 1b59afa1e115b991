"""Where one write's time inside the warehouse lock goes: open, schema check, transaction, read-back, close.

A run step holds the lock beside the warehouse (`warehouse/file_lock.py`) from before DuckDB opens the file until it
has closed it, and every writer of every process waits for it. This times the phases of that hold the way
`warehouse.connection.connect` and `assets.ingest.ingest_window` go through them, one process, no one waiting:
`--writes` writes (default 60) of one week of 1m candles each (10,080, a new window: `bench/rewrite.py` times
re-writes) into one warehouse, one after the other, taking turns among ten symbols, each writing the week after its
last (as a symbol's runs of a fill do); the first five are left out of the figures (a new file's first writes).
Phases: `open` (DuckDB's open of the file: `host.attached`, an ATTACH to the process's kept instance), `schema`
(`ensure_schema` on an up-to-date file), `upsert` (the write's transaction: `upsert_candles` with ten logged
requests), `read_back` (the checks' trailing window, a day before the week and the week) and `close` (DuckDB's close:
the DETACH and its checkpoint of what the transaction wrote). Prints one JSON line: per phase the median wall and CPU
milliseconds, and the load average (the machine is shared: CPU time is what the load from elsewhere does not
inflate).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datafactory_assets.emulator.candles import synthetic_candles  # noqa: E402
from datafactory_assets.frames import candles_from_columns  # noqa: E402
from datafactory_assets.settings import SymbolSettings  # noqa: E402
from datafactory_assets.sources.base import RequestRecord  # noqa: E402
from datafactory_assets.warehouse.file_lock import hold  # noqa: E402
from datafactory_assets.warehouse.host import attached  # noqa: E402
from datafactory_assets.warehouse.queries import window_candles  # noqa: E402
from datafactory_assets.warehouse.schema import ensure_schema  # noqa: E402
from datafactory_assets.warehouse.writes import upsert_candles  # noqa: E402

START = datetime(2024, 12, 25, tzinfo=UTC)
WEEK = timedelta(days=7)
WARM_UP = 5


SYMBOLS = 10


def week(symbol: str, first: datetime):
    frame = synthetic_candles(symbol, int(first.timestamp() * 1000), int((first + WEEK).timestamp() * 1000))
    return candles_from_columns(frame, symbol=symbol, source="binance")


def requests(symbol: str, first: datetime) -> list[RequestRecord]:
    """A week's eleven paged requests, as the ccxt source logs them."""
    page = timedelta(minutes=1000)
    return [RequestRecord(requested_at=datetime.now(UTC).replace(tzinfo=None), source="binance", symbol=symbol,
                          window_start=(first + i * page).replace(tzinfo=None),
                          window_end=min(first + (i + 1) * page, first + WEEK).replace(tzinfo=None), rows=1000,
                          latency_ms=5.0, outcome="ok", error_class=None) for i in range(11)]


class Clock:
    """Wall and CPU milliseconds per phase, appended in the order the phases run."""

    def __init__(self):
        self.wall: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}
        self._mark = (time.perf_counter(), time.process_time())

    def phase(self, name: str) -> None:
        now = (time.perf_counter(), time.process_time())
        self.wall.setdefault(name, []).append(1000 * (now[0] - self._mark[0]))
        self.cpu.setdefault(name, []).append(1000 * (now[1] - self._mark[1]))
        self._mark = now

    def medians(self) -> dict[str, dict[str, float]]:
        return {name: {"wall_ms": round(statistics.median(self.wall[name][WARM_UP:]), 1),
                       "cpu_ms": round(statistics.median(self.cpu[name][WARM_UP:]), 1)} for name in self.wall}


def write(path: Path, symbol: str, first: datetime, clock: Clock) -> None:
    settings = SymbolSettings(symbol=symbol, timeframe="1m", start=START, sources=("binance",))
    frame, asked = week(symbol, first), requests(symbol, first)
    clock.phase("prepare")
    with hold(path, shared=False, timeout_s=60), ExitStack() as session:
        clock.phase("lock")
        conn = session.enter_context(attached(path, read_only=False, lock_timeout_s=60))
        clock.phase("open")
        conn.execute("SET enable_progress_bar = false")
        ensure_schema(conn)
        clock.phase("schema")
        upsert_candles(conn, frame, symbol=settings, requests=asked, run_id="bench")
        clock.phase("upsert")
        window_candles(conn, symbol, first - timedelta(days=1), first + WEEK)
        clock.phase("read_back")
        session.close()
        clock.phase("close")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writes", type=int, default=60)
    args = parser.parse_args()
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        for i in range(args.writes):
            write(path, f"S{i % SYMBOLS:03d}/USDT", START + i // SYMBOLS * WEEK, clock)
    figures = clock.medians()
    figures.pop("prepare")
    held = {unit: round(sum(phase[unit] for phase in figures.values()), 1) for unit in ("wall_ms", "cpu_ms")}
    print(json.dumps({"writes": args.writes, "rows_per_write": int(WEEK.total_seconds() // 60), "phases": figures,
                      "held": held, "load": round(os.getloadavg()[0], 1)}))


if __name__ == "__main__":
    main()
