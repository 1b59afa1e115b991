"""Where a candle step's own time goes: the warehouse session, the checks that read back, the fetch.

`bench/history.py --workload b` spends most of its run workers' time in the steps' own work; this shrinks it to one
process (no webserver, daemon or event-log storage in the way): the shipped definitions over `--symbols` of the
emulator's USDT pairs x `--days` of 1m (the shipped sources chain, Binance's budget enforced, the resilience state
file shared as in production), one in-process `materialize` per symbol over its whole range on an ephemeral
instance, under cProfile timed in CPU seconds (the machine is shared: wall time moves with the load from elsewhere;
waiting for the network or a budget costs none; reading that clock on every call about doubles the run's CPU time,
Python-heavy code such as Dagster's and ccxt's the most, DuckDB's hardly). Prints our functions by cumulative CPU
time, per step, then one JSON line: seconds, CPU seconds and the warehouse session's CPU milliseconds per step (its
open, schema check and close; `bench/warehouse_session.py` splits those). `--out FILE` keeps the raw profile for
`python -m pstats`.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from harness import platform_env, start_emulator, write_config
from history import END, listed_symbols

# (label, predicate over pstats' (file, line, function) key): what a step's time is reported under
_PHASES = {
    "warehouse session (lock, open, schema check, close)": ("warehouse/connection.py", "connect"),
    "  ensure_schema": ("warehouse/schema.py", "ensure_schema"),
    "upsert_rows (the transaction)": ("warehouse/writes.py", "upsert_rows"),
    "  _look (symbol row, archived months, holes and rows held)": ("warehouse/writes.py", "_look"),
    "  _replace_rows": ("warehouse/writes.py", "_replace_rows"),
    "  precedence.replacement": ("warehouse/precedence.py", "replacement"),
    "  _insert_log": ("warehouse/writes.py", "_insert_log"),
    "forget_unlisted": ("warehouse/unlisted.py", "forget_unlisted"),
    "read_back (the checks' rows)": ("assets/ingest.py", "read_back"),
    "check_accuracy": ("checks/accuracy.py", "check_accuracy"),
    "check_anomalies": ("checks/anomaly.py", "check_anomalies"),
    "chain.fetch": ("resilience/chain.py", "fetch"),
    "  limiter acquire": ("resilience/ratelimit.py", "acquire"),
    "  load_markets": ("ccxt/base/exchange.py", "load_markets"),
    "ingest_window": ("assets/ingest.py", "ingest_window"),
    "the step (_materialize: ingest, metadata, checks)": ("assets/candles.py", "_materialize"),
}


def phase_times(stats: pstats.Stats) -> dict[str, tuple[int, float]]:
    """Per label: (calls, cumulative seconds), the primitive calls of a recursive function counted once."""
    found = {}
    for label, (file, name) in _PHASES.items():
        calls, seconds = 0, 0.0
        for (path, _, function), (primitive, _, _, cumulative, _) in stats.stats.items():
            if path.endswith(file) and function.startswith(name):
                calls, seconds = calls + primitive, seconds + cumulative
        found[label] = (calls, seconds)
    return found


@contextmanager
def emulated_universe(*, count: int, days: int) -> Iterator[tuple[list[str], dict[str, str]]]:
    """The emulator (Binance's budget enforced) and, in this process's environment, a universe of its first `count`
    USDT pairs over the `days` before END with a warehouse and DAGSTER_HOME in a temporary directory; yields the
    symbols and the Dagster tags of a range run over the whole window."""
    start = END - timedelta(days=days)
    emulator, url = start_emulator(budget=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            symbols = listed_symbols(url, count, market="spot")
            env = platform_env(workdir, config=write_config(workdir, symbols, start), emulator_url=url)
            os.environ.update(env)
            yield symbols, {"dagster/asset_partition_range_start": f"{start:%Y-%m-%d-%H:%M}",
                            "dagster/asset_partition_range_end": f"{END - timedelta(hours=1):%Y-%m-%d-%H:%M}"}
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--out", help="Keep the raw profile here.")
    args = parser.parse_args()
    with emulated_universe(count=args.symbols, days=args.days) as (symbols, tags):
        import dagster as dg

        from datafactory_assets.definitions import defs
        assets = [defs.get_assets_def(dg.AssetKey(["candles", s.lower().replace("/", "_")])) for s in symbols]
        profile = cProfile.Profile(time.process_time)
        with dg.DagsterInstance.ephemeral() as instance:
            began, cpu = time.perf_counter(), time.process_time()
            profile.enable()
            for asset in assets:
                dg.materialize([asset], instance=instance, resources=defs.resources, tags=tags)
            profile.disable()
            seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    if args.out:
        profile.dump_stats(args.out)
    stats = pstats.Stats(profile)
    phases = phase_times(stats)
    for label, (calls, spent) in phases.items():
        print(f"{label:55s} {calls:6d} calls {spent:8.2f} CPU-s {1000 * spent / len(assets):8.1f} ms/step")
    print(json.dumps({"symbols": args.symbols, "days": args.days, "seconds": round(seconds, 2),
                      "cpu_s": round(cpu, 2), "load": os.getloadavg()[0],
                      "session_ms_per_step": round(1000 * phases[next(iter(_PHASES))][1] / len(assets), 1)}))


if __name__ == "__main__":
    main()
