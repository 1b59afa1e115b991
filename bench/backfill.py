"""Backfill 4 symbols x 30 days of 1m candles from the emulator and compare with a plain ccxt loop.

Three timings in one run, the emulator in its own process (warmed once so every pass reads the same cached pages):
  ours    the asset code path (`ingest_window`: failover chain, shared rate limiter, retry, circuit breaker,
          paginated fetch, validation, one-transaction write), one call per symbol over 30 days = what one
          backfill run of 720 partitions does;
  raw     a plain ccxt fetch loop plus one DuckDB insert of the same candles;
  dagster the same backfill through Dagster's `materialize` (one 720-partition run per symbol) on an instance with the
          shipped settings (DAGSTER_HOME/dagster.yaml of the profile and the variables of
          datafactory_assets/instance/environment.py), to show Dagster's own per-partition bookkeeping separately;
          and once more on Dagster's defaults (a plain SQLite instance, or PostgreSQL storage without the variables),
          the figure before the shipped settings. The per-partition figure is (dagster - ours) / partitions, so it
          also holds what the asset does besides `ingest_window`: its checks (accuracy and anomaly read the stored
          window back) and its per-partition metadata.
Wall times on this shared machine grow several times with its load, so every pass also reports the CPU seconds this
process used (the Dagster passes run in it: the run worker), and with `--postgres` the PostgreSQL server's (its
processes and the sessions that ended): `dagster_cpu_ms_per_partition` is (dagster CPU - ours CPU) / partitions,
`postgres_cpu_ms_per_partition` the server's CPU during the shipped pass / partitions.
The shared limiter is in the path with a budget too large to block, and ccxt's own throttle is off in the raw pass,
so the figures measure per-candle cost, not the venue's budget.
Raw and ours alternate for five rounds and the medians are reported (this machine is shared and noisy); the Dagster
passes run once each (`--skip-dagster` leaves them out, `--skip-defaults` the slow one on Dagster's defaults). The
embedded (SQLite) profile is measured unless `--postgres` starts a throw-away PostgreSQL server (as the e2e tests do)
and measures the production profile. Prints one final JSON line.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import harness  # noqa: E402
from datafactory_assets.assets import build_candle_asset  # noqa: E402
from datafactory_assets.assets.ingest import ingest_window  # noqa: E402
from datafactory_assets.instance.environment import DAGSTER_ENV  # noqa: E402
from datafactory_assets.instance.profiles import write_instance_config  # noqa: E402
from datafactory_assets.launcher import start_emulator  # noqa: E402
from datafactory_assets.settings import SymbolSettings  # noqa: E402
from datafactory_assets.sources.resource import SourcesResource  # noqa: E402
from datafactory_assets.warehouse import WarehouseResource  # noqa: E402

SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "ADA/USDT")
START = datetime(2024, 3, 1, tzinfo=UTC)
DAYS = 30
END = START + timedelta(days=DAYS)


def raw_pass(url: str, workdir: Path) -> tuple[int, float]:
    """A plain ccxt loop over the window, then one DuckDB insert."""
    return harness.raw_pass(url, SYMBOLS, start=START, end=END, database=workdir / "raw.duckdb")


def resilient_sources(url: str, state: Path) -> SourcesResource:
    """Every resilience layer on, as in production, with a budget no backfill here can exhaust."""
    return SourcesResource(emulator_url=url, state_path=str(state), budgets={"binance": 10**9})


def ours_pass(url: str, workdir: Path) -> tuple[int, float, float]:
    """The asset code path, one 30-day window per symbol: candles, seconds, CPU seconds."""
    began, cpu = time.perf_counter(), time.process_time()
    warehouse = WarehouseResource(path=str(workdir / "ours.duckdb"))
    sources = resilient_sources(url, workdir / "ours.resilience.sqlite")
    rows = 0
    for symbol in SYMBOLS:
        settings = SymbolSettings(symbol=symbol, timeframe="1m", start=START, sources=("binance",))
        rows += ingest_window(settings, start=START, end=END, sources=sources,
                              warehouse=warehouse).rows
    return rows, time.perf_counter() - began, time.process_time() - cpu


def _set(values: Mapping[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextmanager
def environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Dagster reads its variables from this process's environment when it writes events; None unsets one."""
    saved = {name: os.environ.get(name) for name in values}
    _set(values)
    try:
        yield
    finally:
        _set(saved)


def instance(home: Path, *, profile: str, shipped: bool) -> dg.DagsterInstance:
    """The shipped instance of the profile, or Dagster's defaults: a plain SQLite instance for embedded, and for
    production the same PostgreSQL storage (its defaults are the Dagster variables, left unset)."""
    if not shipped and profile == "embedded":
        return dg.DagsterInstance.local_temp(str(home))
    write_instance_config(home, profile)
    return dg.DagsterInstance.from_config(str(home))


def dagster_pass(url: str, workdir: Path, *, profile: str, shipped: bool,
                 server_cpu: Callable[[], float]) -> tuple[int, float, float, float]:
    """The same backfill through Dagster: one in-process run of 720 hourly partitions per symbol. Candles, seconds,
    CPU seconds of this process and of the storage's server (`server_cpu`) while the runs ran."""
    name = f"dagster_{'shipped' if shipped else 'default'}"
    warehouse = WarehouseResource(path=str(workdir / f"{name}.duckdb"))
    resources = {"warehouse": warehouse, "sources": resilient_sources(url, workdir / f"{name}.resilience.sqlite")}
    last = (END - timedelta(hours=1)).strftime("%Y-%m-%d-%H:%M")
    home = workdir / f"{name}_home"
    home.mkdir()
    variables = {**(DAGSTER_ENV if shipped else dict.fromkeys(DAGSTER_ENV)), "DAGSTER_HOME": str(home)}
    with environment(variables), instance(home, profile=profile, shipped=shipped) as dagster:
        began, cpu, server = time.perf_counter(), time.process_time(), server_cpu()
        for symbol in SYMBOLS:
            settings = SymbolSettings(symbol=symbol, timeframe="1m", start=START, sources=("binance",))
            dg.materialize([build_candle_asset(settings, partitions_per_run=720)], instance=dagster,
                           resources=resources, tags={"dagster/asset_partition_range_start": START.strftime(
                               "%Y-%m-%d-%H:%M"), "dagster/asset_partition_range_end": last})
        seconds, cpu, server = time.perf_counter() - began, time.process_time() - cpu, server_cpu() - server
        if profile == "production":  # the next pass starts on an empty event log, like this one
            dagster.wipe()
    with warehouse.connect(read_only=True) as conn:
        return conn.execute("SELECT count(*) FROM candles").fetchall()[0][0], seconds, cpu, server


def postgres_server(stack: ExitStack) -> tuple[dict[str, str], Callable[[], float]]:
    """A throw-away PostgreSQL server for the production profile (the e2e tests' own), stopped with `stack`: its
    DATAFACTORY_PG_* variables and a reading of the CPU seconds its processes have used so far."""
    from datafactory_tests.e2e.postgres import PostgresServer, missing_reason

    if reason := missing_reason():
        sys.exit(f"--postgres: {reason}")
    server = stack.enter_context(PostgresServer())
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    return server.env, lambda: sum(harness.tree_cpu_seconds(postmaster).values())


def main(rounds: int = 5) -> None:
    profile = "production" if "--postgres" in sys.argv else "embedded"
    raw_times, ours_times, ours_cpu, dagster = [], [], [], {}
    with ExitStack() as stack:
        env, server_cpu = postgres_server(stack) if profile == "production" else ({}, lambda: 0.0)
        stack.enter_context(environment(env))
        emulator, url = start_emulator()
        stack.callback(emulator.terminate)
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        (workdir / "warm").mkdir()
        raw_pass(url, workdir / "warm")  # fill the emulator's page cache with the pages both passes ask for
        ours_pass(url, workdir / "warm")
        for round_no in range(rounds):  # alternate, so load from elsewhere on the machine hits both alike
            round_dir = workdir / f"round{round_no}"
            round_dir.mkdir()
            raw_rows, raw_s = raw_pass(url, round_dir)
            rows, ours_s, cpu_s = ours_pass(url, round_dir)
            raw_times.append(raw_s)
            ours_times.append(ours_s)
            ours_cpu.append(cpu_s)
        passes = [] if "--skip-dagster" in sys.argv else [True] if "--skip-defaults" in sys.argv else [True, False]
        for shipped in passes:
            dagster[shipped] = dagster_pass(url, workdir, profile=profile, shipped=shipped, server_cpu=server_cpu)
    expected = len(SYMBOLS) * DAYS * 1440
    assert rows == raw_rows == expected and all(d[0] == expected for d in dagster.values()), (rows, raw_rows, dagster)
    raw_s, ours_s, ours_cpu_s = (statistics.median(times) for times in (raw_times, ours_times, ours_cpu))
    ratio = statistics.median(o / r for o, r in zip(ours_times, raw_times))
    partitions = len(SYMBOLS) * DAYS * 24
    shipped, default = dagster.get(True), dagster.get(False)

    def per_partition_ms(seconds: float | None, ours: float = 0.0) -> float | None:
        return None if seconds is None else round(1000 * (seconds - ours) / partitions, 2)

    def rounded(seconds: float | None) -> float | None:
        return None if seconds is None else round(seconds, 3)

    print(f"raw ccxt loop + one insert : {raw_rows} candles, median {raw_s:.2f}s of {rounds} "
          f"({raw_rows / raw_s:,.0f}/s); rounds {[round(t, 2) for t in raw_times]}")
    print(f"asset code path (ours)     : {rows} candles, median {ours_s:.2f}s of {rounds} "
          f"({rows / ours_s:,.0f}/s), {ours_cpu_s:.2f}s CPU; rounds {[round(t, 2) for t in ours_times]}")
    for label, measured in (("shipped settings", shipped), ("Dagster defaults", default)):
        if measured is not None:
            _, seconds, cpu, server = measured
            print(f"through Dagster materialize, {profile} profile, {label}: {seconds:.2f}s ({partitions} hourly "
                  f"partitions, {per_partition_ms(seconds, ours_s):.2f} ms of Dagster bookkeeping per partition; "
                  f"CPU {cpu:.2f}s, {per_partition_ms(cpu, ours_cpu_s):.2f} ms per partition over ours"
                  + (f", PostgreSQL server {server:.2f}s" if profile == "production" else "") + ")")
    print(json.dumps({
        "candles": rows,
        "seconds": round(ours_s, 3),
        "candles_per_s": round(rows / ours_s),
        "raw_candles_per_s": round(raw_rows / raw_s),
        "ratio": round(ratio, 3),
        "instance_profile": profile,
        "dagster_seconds": rounded(shipped and shipped[1]),
        "dagster_ratio": None if shipped is None else round(shipped[1] / raw_s, 3),
        "dagster_ms_per_partition": per_partition_ms(shipped and shipped[1], ours_s),
        "dagster_cpu_ms_per_partition": per_partition_ms(shipped and shipped[2], ours_cpu_s),
        "postgres_cpu_ms_per_partition": per_partition_ms(shipped[3]) if shipped and profile == "production" else None,
        "dagster_default_seconds": rounded(default and default[1]),
        "dagster_default_ms_per_partition": per_partition_ms(default and default[1], ours_s),
        "load_average": round(os.getloadavg()[0], 2),
    }))


if __name__ == "__main__":
    main()
