"""The ingest path shared by assets, CLI and benchmark, under concurrency."""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta

from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse import WarehouseResource
from datafactory_tests.helpers import symbol_settings

START = datetime(2024, 3, 2, tzinfo=UTC)
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "ADA/USDT")


def ingest_day(symbol: str, emulator_url: str, warehouse_path: str) -> int:
    warehouse = WarehouseResource(path=warehouse_path, lock_timeout_s=120)
    sources = SourcesResource(emulator_url=emulator_url)
    total = 0
    for hour in range(0, 24, 6):  # several separate writes per process, to collide often
        start = START + timedelta(hours=hour)
        total += ingest_window(symbol_settings(symbol), start=start, end=start + timedelta(hours=6),
                               sources=sources, warehouse=warehouse).rows
    return total


def test_four_processes_writing_at_once_all_land_every_candle_once(emulator, warehouse):
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=4, mp_context=context) as pool:
        totals = list(pool.map(ingest_day, SYMBOLS, [emulator.url] * 4, [warehouse.path] * 4))
    assert totals == [1440] * 4
    with warehouse.connect(read_only=True) as conn:
        counts = conn.sql("SELECT symbol, count(*), count(DISTINCT ts) FROM candles GROUP BY symbol "
                          "ORDER BY symbol").fetchall()
    assert counts == [(s, 1440, 1440) for s in sorted(SYMBOLS)]
