"""What a re-fetch costs the write: one run's worth of candles (720 hourly partitions of 1m candles, 43,200 rows,
the default `partitions_per_run`) upserted again into a warehouse that already holds them among a year of the
symbol's candles.

Two cases: identical candles (the usual re-fetch: healing, a re-run, a backfill over held hours) and the same
candles with every close moved by one tick (a venue correcting its history: every row replaced and kept as a
revision). Each is timed REPEATS times on the same connection, the transaction alone. Prints one JSON line with the
median and the fastest seconds per case.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datafactory_assets.emulator.candles import synthetic_candles  # noqa: E402
from datafactory_assets.frames import candles_from_columns  # noqa: E402
from datafactory_assets.settings import SymbolSettings  # noqa: E402
from datafactory_assets.warehouse import WarehouseResource  # noqa: E402
from datafactory_assets.warehouse.writes import upsert_candles  # noqa: E402

START = datetime(2024, 1, 1, tzinfo=UTC)
HISTORY = timedelta(days=365)
RUN = timedelta(hours=720)
REPEATS = 7
SYMBOL = SymbolSettings(symbol="BTC/USDT", timeframe="1m", start=START, sources=("binance",))


def candles(start: datetime, end: datetime) -> pl.DataFrame:
    frame = synthetic_candles(SYMBOL.symbol, int(start.timestamp() * 1000), int(end.timestamp() * 1000))
    return candles_from_columns(frame, symbol=SYMBOL.symbol, source="binance")


def timed(conn, frames: list[pl.DataFrame]) -> list[float]:
    seconds = []
    for frame in frames:
        began = time.perf_counter()
        upsert_candles(conn, frame, symbol=SYMBOL)
        seconds.append(time.perf_counter() - began)
    return seconds


def main() -> None:
    run = candles(START + HISTORY - RUN, START + HISTORY)
    # alternate two versions of the run, so every write of the correction case changes every row again
    corrected = [run.with_columns(close=pl.col("close") + (0.01 if i % 2 == 0 else 0.0),
                                  high=pl.max_horizontal("high", pl.col("close") + 0.01)) for i in range(REPEATS)]
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        warehouse = WarehouseResource(path=str(Path(tmp) / "bench.duckdb"))
        with warehouse.connect() as conn:
            upsert_candles(conn, candles(START, START + HISTORY), symbol=SYMBOL)
            for case, frames in (("identical", [run] * REPEATS), ("corrected", corrected)):
                seconds = timed(conn, frames)
                figures[case] = {"median_s": round(statistics.median(seconds), 3), "min_s": round(min(seconds), 3)}
    print(json.dumps({"rows_per_write": run.height, "stored_rows": int(HISTORY.total_seconds() // 60),
                      "repeats": REPEATS, **figures}))


if __name__ == "__main__":
    main()
