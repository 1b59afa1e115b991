"""Wall time of `datafactory` commands a person types often, each in a fresh process as from a shell.

A temporary warehouse holds 4 symbols x 30 days of 1m candles, stored through the asset code from the emulator. Timed:
  help      `datafactory --help`;
  status    `datafactory status` (the coverage table of that warehouse);
  backfill  `datafactory backfill` of those 30 days, already stored: it finds nothing missing and exits 0 without a
            webserver (`--url` points where nobody listens), so this is the whole cost of a re-run;
and whether each command's process imported dagster. Medians of five alternating rounds; prints one JSON line.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from datafactory_assets.assets.ingest import ingest_window  # noqa: E402
from datafactory_assets.launcher import free_port, start_emulator  # noqa: E402
from datafactory_assets.settings import SymbolSettings  # noqa: E402
from datafactory_assets.sources.resource import SourcesResource  # noqa: E402
from datafactory_assets.warehouse import WarehouseResource  # noqa: E402

SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "ADA/USDT")
START = datetime(2024, 3, 1, tzinfo=UTC)
DAYS = 30
RUN = "import runpy, sys; sys.argv[0] = 'datafactory'; runpy.run_module('datafactory_assets.cli', run_name='__main__')"
REPORT = ("import atexit, sys; atexit.register(lambda: sys.stderr.write("
          "'dagster imported: %s\\n' % ('dagster' in sys.modules)))")


def fill(workdir: Path, url: str) -> WarehouseResource:
    warehouse = WarehouseResource(path=str(workdir / "warehouse.duckdb"))
    sources = SourcesResource(emulator_url=url)
    for symbol in SYMBOLS:
        ingest_window(SymbolSettings(symbol=symbol, timeframe="1m", start=START, sources=("binance",)), start=START,
                      end=START + timedelta(days=DAYS), sources=sources, warehouse=warehouse)
    return warehouse


def timed(args: list[str], env: dict[str, str]) -> tuple[float, bool]:
    """Seconds the command took, and whether it imported dagster; it must succeed."""
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", f"{REPORT}; {RUN}", *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    assert done.returncode == 0, done.stdout + done.stderr
    return seconds, "dagster imported: True" in done.stderr


def main() -> None:
    emulator, url = start_emulator()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            warehouse = fill(workdir, url)
            config = workdir / "datafactory.toml"
            config.write_text(f'[defaults]\nstart = "{START:%Y-%m-%d}"\n[symbols]\n'
                              + "".join(f'"{symbol}" = {{}}\n' for symbol in SYMBOLS))
            env = {**os.environ, "DATAFACTORY_CONFIG": str(config), "DATAFACTORY_WAREHOUSE": warehouse.path,
                   "PYTHONPATH": str(ROOT)}
            last = START + timedelta(days=DAYS - 1)
            commands = {"help": ["--help"], "status": ["status"],
                        "backfill": ["backfill", "--from", f"{START:%Y-%m-%d}", "--to", f"{last:%Y-%m-%d}",
                                     "--url", f"http://127.0.0.1:{free_port()}"]}
            samples: dict[str, list[float]] = {name: [] for name in commands}
            imports: dict[str, bool] = {}
            for _ in range(5):
                for name, args in commands.items():
                    seconds, imports[name] = timed(args, env)
                    samples[name].append(seconds)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    print(json.dumps({"candles": len(SYMBOLS) * DAYS * 1440,
                      **{f"{name}_s": round(statistics.median(s), 3) for name, s in samples.items()},
                      **{f"{name}_imports_dagster": imported for name, imported in imports.items()}}))


if __name__ == "__main__":
    main()
