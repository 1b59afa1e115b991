"""How long `datafactory doctor` takes on a big warehouse: a few million 1m candles.

The warehouse is filled through the platform's write path (`upsert_candles`, one transaction per month of one
symbol, as range runs write) with random-walk candles, then checked the way `datafactory doctor` checks it. Timings
(median of three passes, each with a fresh connection, so DuckDB's buffer pool starts cold; the OS page cache does
not, as on a machine that just wrote the file):
  blocks    every block's checksum recomputed (`warehouse.blocks`), free space included;
  storage   blocks plus a read of every column of every table (`integrity.storage_problems`);
  doctor    everything `datafactory doctor` does (`integrity.find_problems`).
Prints one JSON line. Usage: python bench/doctor.py [SYMBOLS] [MONTHS] (default 4 symbols x 18 months, 3.1 M).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datafactory_assets.settings import SymbolSettings  # noqa: E402
from datafactory_assets.warehouse import connection  # noqa: E402
from datafactory_assets.warehouse.blocks import damaged_blocks  # noqa: E402
from datafactory_assets.warehouse.integrity import find_problems, storage_problems  # noqa: E402
from datafactory_assets.warehouse.writes import upsert_candles  # noqa: E402

START = datetime(2023, 1, 1, tzinfo=UTC)
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "BNB/USDT", "ADA/USDT", "DOGE/USDT", "TRX/USDT")


def month_frame(symbol: str, start: datetime, end: datetime, rng: np.random.Generator) -> pl.DataFrame:
    """One month of plausible 1m candles: a random walk, high and low around open and close."""
    ts = pl.datetime_range(start.replace(tzinfo=None), end.replace(tzinfo=None), "1m", closed="left", eager=True)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 5e-4, ts.len())))
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = rng.uniform(0, 2e-4, ts.len()) * close
    return pl.DataFrame({"symbol": symbol, "ts": ts, "open": open_, "high": np.maximum(open_, close) + spread,
                         "low": np.minimum(open_, close) - spread, "close": close,
                         "volume": rng.uniform(0, 50, ts.len()), "source": "binance"})


def fill(path: Path, *, symbols: int, months: int) -> int:
    rng = np.random.default_rng(9)
    stored = 0
    for name in SYMBOLS[:symbols]:
        symbol = SymbolSettings(symbol=name, timeframe="1m", start=START, sources=("binance",))
        begin = START
        for _ in range(months):
            end = (begin + timedelta(days=32)).replace(day=1)
            with connection.connect(path) as conn:
                stored += upsert_candles(conn, month_frame(name, begin, end, rng), symbol=symbol)
            begin = end
    return stored


def timed(path: Path, check) -> float:
    with connection.connect(path, read_only=True) as conn:
        began = time.perf_counter()
        found = check(conn)
        seconds = time.perf_counter() - began
    assert not found, found
    return seconds


def main() -> None:
    symbols = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    months = int(sys.argv[2]) if len(sys.argv) > 2 else 18
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "warehouse.duckdb"
        began = time.perf_counter()
        candles = fill(path, symbols=symbols, months=months)
        filled_s = time.perf_counter() - began
        checks = {"blocks": damaged_blocks, "storage": storage_problems, "doctor": find_problems}
        seconds = {name: statistics.median(timed(path, check) for _ in range(3)) for name, check in checks.items()}
        print(json.dumps({"candles": candles, "file_mib": round(path.stat().st_size / 2**20, 1),
                          "fill_s": round(filled_s, 1), **{f"{k}_s": round(v, 2) for k, v in seconds.items()}}))


if __name__ == "__main__":
    main()
