"""Where one write's time inside the warehouse lock goes: open, schema check, transaction, read-back, close.

A run step holds the lock beside the warehouse (`warehouse/file_lock.py`) from before DuckDB opens the file until it
has closed it, and every writer of every process waits for it. Two figures, one process, no one waiting:

- `phases`: `--writes` writes (default 60) of one week of 1m candles each (10,080, a new window: `bench/rewrite.py`
  times re-writes) into one warehouse, one after the other, taking turns among ten symbols, each writing the week
  after its last (as a symbol's runs of a fill do); the first five are left out (a new file's first writes). Phases:
  `open` (DuckDB's open of the file: `host.attached`, an ATTACH to the process's kept instance), `schema`
  (`ensure_schema` on an up-to-date file), `upsert` (the write's transaction: `upsert_candles` with ten logged
  requests), `read_back` (the checks' trailing window, a day before the week and the week) and `close` (DuckDB's
  close: the DETACH and its checkpoint of what the transaction wrote).
- `steps`: a candle step's whole session as `assets.ingest.ingest_window` runs it (`connection.connect`, the upsert
  of a symbol's 168 hours with its eleven logged requests, `forget_unlisted`, the checks' read-back), into a file
  that already holds `--symbols` symbols (default 200) x 7 days of 1m: `new` writes the week of a symbol not yet
  stored (as (b)'s fill does), `next` the following week of a stored one (as the fill of a second week does), each
  `--steps` times (default 20, the first three left out). Split into `open` (lock, ATTACH, settings, schema),
  `write` (upsert and forget_unlisted), `read_back` and `close`.

Prints one JSON line: per phase the median wall and CPU milliseconds, and the load average (the machine is shared:
CPU time is what the load from elsewhere does not inflate).
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

from datafactory_assets.assets.ingest import read_back  # noqa: E402
from datafactory_assets.datasets import SPOT_CANDLES  # noqa: E402
from datafactory_assets.emulator.candles import synthetic_candles  # noqa: E402
from datafactory_assets.frames import candles_from_columns  # noqa: E402
from datafactory_assets.settings import SymbolSettings  # noqa: E402
from datafactory_assets.sources.base import RequestRecord  # noqa: E402
from datafactory_assets.warehouse.connection import connect  # noqa: E402
from datafactory_assets.warehouse.file_lock import hold  # noqa: E402
from datafactory_assets.warehouse.host import attached  # noqa: E402
from datafactory_assets.warehouse.queries import window_candles  # noqa: E402
from datafactory_assets.warehouse.schema import ensure_schema  # noqa: E402
from datafactory_assets.warehouse.unlisted import forget_unlisted  # noqa: E402
from datafactory_assets.warehouse.writes import upsert_candles  # noqa: E402

START = datetime(2024, 12, 25, tzinfo=UTC)
WEEK = timedelta(days=7)
DAY = timedelta(days=1)
WARM_UP = 5
STEP_WARM_UP = 3


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


def settings_of(symbol: str) -> SymbolSettings:
    return SymbolSettings(symbol=symbol, timeframe="1m", start=START, sources=("binance",))


class Clock:
    """Wall and CPU milliseconds per phase, appended in the order the phases run."""

    def __init__(self, warm_up: int = WARM_UP):
        self.wall: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}
        self.warm_up = warm_up
        self._mark = (time.perf_counter(), time.process_time())

    def phase(self, name: str) -> None:
        now = (time.perf_counter(), time.process_time())
        self.wall.setdefault(name, []).append(1000 * (now[0] - self._mark[0]))
        self.cpu.setdefault(name, []).append(1000 * (now[1] - self._mark[1]))
        self._mark = now

    def medians(self) -> dict[str, dict[str, float]]:
        return {name: {"wall_ms": round(statistics.median(self.wall[name][self.warm_up:]), 1),
                       "cpu_ms": round(statistics.median(self.cpu[name][self.warm_up:]), 1)} for name in self.wall}

    def held(self, *, leave_out: str) -> dict:
        """The medians, and their sum over every phase but `leave_out` (the work before the lock)."""
        figures = self.medians()
        figures.pop(leave_out)
        return {"phases": figures, "held": {unit: round(sum(phase[unit] for phase in figures.values()), 1)
                                            for unit in ("wall_ms", "cpu_ms")}}


def write(path: Path, symbol: str, first: datetime, clock: Clock) -> None:
    frame, asked = week(symbol, first), requests(symbol, first)
    clock.phase("prepare")
    with hold(path, shared=False, timeout_s=60), ExitStack() as session:
        clock.phase("lock")
        conn = session.enter_context(attached(path, read_only=False, lock_timeout_s=60))
        clock.phase("open")
        conn.execute("SET enable_progress_bar = false")
        ensure_schema(conn)
        clock.phase("schema")
        upsert_candles(conn, frame, symbol=settings_of(symbol), requests=asked, run_id="bench")
        clock.phase("upsert")
        window_candles(conn, symbol, first - DAY, first + WEEK)
        clock.phase("read_back")
        session.close()
        clock.phase("close")


def step(path: Path, symbol: str, first: datetime, clock: Clock) -> None:
    """One candle step's session, as `ingest_window` runs it for a window served whole."""
    frame, asked = week(symbol, first), requests(symbol, first)
    clock.phase("prepare")
    with connect(path) as conn:
        clock.phase("open")
        written = upsert_candles(conn, frame, symbol=settings_of(symbol), requests=asked, run_id="bench")
        forget_unlisted(conn, symbol)
        clock.phase("write")
        read_back(conn, symbol, read_from=first - DAY, read_also=(), start=first, end=first + WEEK,
                  dataset=SPOT_CANDLES, written=written.span)
        clock.phase("read_back")
    clock.phase("close")


def prefill(path: Path, symbols: int) -> None:
    """`symbols` symbols' week from START, written in one session (the file a fill of (b) leaves)."""
    with connect(path) as conn:
        for i in range(symbols):
            symbol = f"P{i:03d}/USDT"
            upsert_candles(conn, week(symbol, START), symbol=settings_of(symbol), requests=requests(symbol, START),
                           run_id="prefill")


def steps(path: Path, *, symbols: int, count: int) -> dict:
    """Per kind of step (`new`, `next`), the phases of `count` steps into the prefilled file."""
    prefill(path, symbols)
    figures = {}
    for kind in ("new", "next"):
        clock = Clock(STEP_WARM_UP)
        for i in range(count):
            if kind == "new":
                step(path, f"N{i:03d}/USDT", START, clock)
            else:
                step(path, f"P{i % symbols:03d}/USDT", START + WEEK, clock)
        figures[kind] = clock.held(leave_out="prepare")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writes", type=int, default=60)
    parser.add_argument("--symbols", type=int, default=200, help="symbols x 7 days in the file the steps write to")
    parser.add_argument("--steps", type=int, default=20, help="steps of each kind (new symbol, next week)")
    args = parser.parse_args()
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        for i in range(args.writes):
            write(path, f"S{i % SYMBOLS:03d}/USDT", START + i // SYMBOLS * WEEK, clock)
        step_figures = steps(Path(tmp) / "steps.duckdb", symbols=args.symbols, count=args.steps)
    print(json.dumps({"writes": args.writes, "rows_per_write": int(WEEK.total_seconds() // 60),
                      **clock.held(leave_out="prepare"), "file_symbols": args.symbols, "steps": step_figures,
                      "load": round(os.getloadavg()[0], 1)}))


if __name__ == "__main__":
    main()
