"""What the benchmarks share: the emulator and the platform as a user starts them, in their own processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from datetime import datetime
from pathlib import Path

import ccxt
import duckdb
import polars as pl
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from datafactory_assets.datasets import DATASETS  # noqa: E402
from datafactory_assets.launcher import free_port  # noqa: E402
from datafactory_assets.processes import descendants  # noqa: E402
from datafactory_assets.sources.ccxt_source import point_at_emulator  # noqa: E402
from datafactory_assets.sources.venues import venue_market  # noqa: E402

BIN = Path(sys.executable).parent


def start_emulator(*, budget: bool) -> tuple[subprocess.Popen, str]:
    port = free_port()
    argv = [BIN / "datafactory", "emulator", "--port", str(port), *(["--budget", "binance"] if budget else [])]
    proc = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE, text=True)
    if "listening" not in proc.stdout.readline():
        proc.kill()
        raise RuntimeError("the exchange emulator did not start")
    return proc, f"http://127.0.0.1:{port}"


def write_config(workdir: Path, symbols: list[str], start: datetime, *, partitions_per_run: int | None = None,
                 dataset: str = "candles") -> Path:
    """A universe of `symbols` from `start` collecting `dataset` alone, with the shipped sources chain of their market
    (a perpetual's: that of the shipped perpetuals) and run size (or `partitions_per_run`); healing off, so only the
    benchmark's own backfill fills the warehouse."""
    shipped = tomllib.loads((ROOT / "datafactory.toml").read_text())
    perpetuals = [entry["sources"] for name, entry in shipped["symbols"].items() if ":" in name]
    sources = perpetuals[0] if DATASETS[dataset].market == "swap" else shipped["defaults"]["sources"]
    lines = ["[defaults]", 'timeframe = "1m"', f'start = "{start:%Y-%m-%d}"', f"sources = {json.dumps(sources)}",
             f"datasets = {json.dumps([dataset])}", "[symbols]", *(f'"{s}" = {{}}' for s in symbols), "[backfill]",
             f"partitions_per_run = {partitions_per_run or shipped['backfill']['partitions_per_run']}",
             "[healing]", "enabled = false"]
    path = workdir / "datafactory.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def start_platform(env: dict, workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(workdir / "platform.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([str(BIN / "datafactory"), "up", "--port", str(port)], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"datafactory up exited; see {workdir / 'platform.log'}")
        try:
            if requests.get(f"{url}/server_info", timeout=2).ok:
                return proc, url
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the webserver did not answer; see {workdir / 'platform.log'}")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the platform's process tree (dagster dev puts some children in sessions of their own), then
    SIGKILL to whatever is left after a minute."""
    tree = [proc.pid, *descendants(proc.pid)]
    for pid in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in tree[1:]):
        time.sleep(0.5)
    for pid in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()


def tree_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) `pid` and every process below it have used so far, per command (its first two
    words after the interpreter), a process's ended and reaped children counted with it: what the platform cost the
    machine's cores, whatever else ran on them."""
    tick, used = os.sysconf("SC_CLK_TCK"), {}
    for member in [pid, *descendants(pid)]:
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            name = process_name(member)
        except OSError:
            continue
        used[name] = used.get(name, 0.0) + sum(int(f) for f in fields[11:15]) / tick
    return {name: round(seconds, 1) for name, seconds in sorted(used.items())}


def process_name(pid: int) -> str:
    """A platform process's command, its first two words after the interpreter (`dagster._daemon run`); raises
    OSError when it has exited."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    words = [Path(a).name for a in argv if a and not a.startswith("-") and "python" not in Path(a).name][:2]
    code = argv[argv.index("-c") + 1] if "-c" in argv[:-1] else ""
    # `python -c "from multiprocessing.forkserver import main; ..."`: the warm run server and the run workers
    # forked from it (multiprocessing's own helpers are named the same way)
    return code.split()[1] if code.startswith("from multiprocessing.") else " ".join(words)


def platform_env(workdir: Path, *, config: Path, emulator_url: str) -> dict[str, str]:
    """Everything the platform keeps under `workdir`, every source pointed at the emulator."""
    return {**os.environ, "DAGSTER_HOME": str(workdir / "dagster_home"), "DATAFACTORY_CONFIG": str(config),
            "DATAFACTORY_WAREHOUSE": str(workdir / "warehouse.duckdb"), "DATAFACTORY_EMULATOR_URL": emulator_url}


def raw_pass(url: str, symbols: list[str] | tuple[str, ...], *, start: datetime, end: datetime, database: Path,
             dataset: str = "candles") -> tuple[int, float]:
    """A plain ccxt loop over the window (Binance's client of the dataset's market: `binance` for spot candles,
    `binanceusdm` for a perpetual's, with the dataset's own ccxt `params`), then one DuckDB insert: the floor of any
    fetch-and-store."""
    began = time.perf_counter()
    declared = DATASETS[dataset]
    market = venue_market("binance", declared.market)
    exchange = getattr(ccxt, market.ccxt_class)({"enableRateLimit": False, "options": dict(market.client_options)})
    exchange.urls["api"] = point_at_emulator(exchange.urls["api"], base_url=url, venue=market.ccxt_class)
    frames, until, params = [], int(end.timestamp() * 1000), dict(declared.endpoint("binance").params)
    for symbol in symbols:
        since, rows = int(start.timestamp() * 1000), []
        while since < until:
            page = exchange.fetch_ohlcv(symbol, "1m", since=since, limit=1000, params={**params, "until": until - 1})
            if not page:
                break
            rows.extend(page)
            since = page[-1][0] + 60_000
        frames.append(pl.DataFrame(rows, schema=["ts", "open", "high", "low", "close", "volume"], orient="row")
                      .with_columns(symbol=pl.lit(symbol)))
    data = pl.concat(frames)
    conn = duckdb.connect(str(database))
    conn.register("data", data)
    conn.execute(f"CREATE TABLE {declared.table} AS SELECT * FROM data")
    count = conn.execute(f"SELECT count(*) FROM {declared.table}").fetchall()[0][0]
    conn.close()
    return count, time.perf_counter() - began


def stored_candles(warehouse: str, *, start: datetime, end: datetime, dataset: str = "candles") -> int:
    """Rows of `dataset` the platform stored with open time in [start, end): the hourly schedule adds the hour just
    closed."""
    with duckdb.connect(warehouse, read_only=True) as conn:
        return conn.execute(f"SELECT count(*) FROM {DATASETS[dataset].view} WHERE ts >= ? AND ts < ?",
                            [start.replace(tzinfo=None), end.replace(tzinfo=None)]).fetchall()[0][0]
