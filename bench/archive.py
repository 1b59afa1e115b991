"""One month of 1m candles for one symbol through Binance's REST klines versus its bulk archive, via the emulator.

Timings, the emulator in its own process (warmed once, so every pass reads responses it has already built):
  rest            the ccxt source, 1000 candles per request (45 requests for a month);
  archive         the archive source without a cache: checksum + zip download, SHA-256, zip and CSV parse;
  archive cached  the same month read from the on-disk cache a previous run left (no request);
  ingest rest / ingest archive   the whole asset code path (`ingest_window`: chain, retry, breaker, validation,
                  one-transaction write) with the symbol's chain being only that source; no state file, so no
                  shared budget and no archive cache (every pass downloads).
On a local emulator this measures the client's own cost per candle; over the internet the archive also saves 44
round trips and the REST request weight. Passes alternate for five rounds; medians are reported. Prints one JSON line.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datafactory_assets.assets.ingest import ingest_window  # noqa: E402
from datafactory_assets.launcher import start_emulator  # noqa: E402
from datafactory_assets.settings import SymbolSettings  # noqa: E402
from datafactory_assets.sources.binance_archive import BinanceArchiveSource  # noqa: E402
from datafactory_assets.sources.ccxt_source import CcxtCandleSource  # noqa: E402
from datafactory_assets.sources.file_cache import FileCache  # noqa: E402
from datafactory_assets.sources.resource import SourcesResource  # noqa: E402
from datafactory_assets.warehouse import WarehouseResource  # noqa: E402

SYMBOL = "BTC/USDT"
START = datetime(2024, 3, 1, tzinfo=UTC)
END = datetime(2024, 4, 1, tzinfo=UTC)
CANDLES = 31 * 1440


def timed(fetch) -> float:
    began = time.perf_counter()
    rows = fetch()
    seconds = time.perf_counter() - began
    assert rows == CANDLES, rows
    return seconds


def passes(url: str, workdir: Path) -> dict:
    """Each way of getting the month once, as zero-argument callables returning the candle count."""
    rest = CcxtCandleSource("binance", emulator_url=url)
    cache = FileCache(workdir / "archive-cache", max_bytes=2**30)
    BinanceArchiveSource(emulator_url=url, cache=cache).fetch_range(SYMBOL, start=START, end=END, timeframe="1m")
    sources = SourcesResource(emulator_url=url)  # no state file: no shared budget, and no archive cache

    def fetch(source):
        return lambda: source.fetch_range(SYMBOL, start=START, end=END, timeframe="1m").frame.height

    def ingest(name: str):
        settings = SymbolSettings(symbol=SYMBOL, timeframe="1m", start=START, sources=(name,))
        warehouse = WarehouseResource(path=str(workdir / f"{name}.duckdb"))
        return lambda: ingest_window(settings, start=START, end=END, sources=sources, warehouse=warehouse).rows

    return {
        "rest": fetch(rest),
        "archive": fetch(BinanceArchiveSource(emulator_url=url)),
        "archive_cached": fetch(BinanceArchiveSource(emulator_url=url, cache=cache)),
        "ingest_rest": ingest("binance"),
        "ingest_archive": ingest("binance_archive"),
    }


def main(rounds: int = 5) -> None:
    emulator, url = start_emulator()
    times: dict[str, list[float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ways = passes(url, Path(tmp))
            for fetch in ways.values():  # warm: the emulator builds each page and zip once
                timed(fetch)
            for _ in range(rounds):
                for name, fetch in ways.items():
                    times.setdefault(name, []).append(timed(fetch))
    finally:
        emulator.terminate()
    medians = {name: statistics.median(seconds) for name, seconds in times.items()}
    for name, seconds in medians.items():
        print(f"{name:15}: {CANDLES} candles, median {seconds:.3f}s of {rounds} ({CANDLES / seconds:,.0f}/s)")
    ratios = {
        "rest_over_archive": medians["rest"] / medians["archive"],
        "rest_over_archive_cached": medians["rest"] / medians["archive_cached"],
        "ingest_rest_over_ingest_archive": medians["ingest_rest"] / medians["ingest_archive"],
    }
    for name, ratio in ratios.items():
        print(f"{name}: {ratio:.1f}x")
    print(json.dumps({**{f"{k}_s": round(v, 3) for k, v in medians.items()},
                      **{k: round(v, 2) for k, v in ratios.items()}}))


if __name__ == "__main__":
    main()
