"""The platform at 200 symbols against the emulator: code location load, one healing tick, one hourly run.

Resolves a `[universe]` of the emulator's top 200 USDT pairs into a temporary configuration (as
`datafactory universe --refresh` does), then measures, each in a fresh process so nothing is warm that would not be:
  load     importing the code location (`datafactory_assets.defs`) with that configuration, wall and CPU seconds;
  healing  one evaluation of `candles_healing` against a real instance, over a warehouse holding one closed hour of
           every symbol and history from 2025-01-01 (200 symbols x ~17,000 hours, all but one missing);
  hourly   the real `candles_job` for the last closed hour (every symbol), executed in process, wall and CPU seconds;
  coverage the real `coverage_job` (coverage table and source health) after it;
  status   `datafactory status` (the same coverage query, without Dagster), its table sent to /dev/null.
`--only healing` times one pass; `--profile hourly` prints cProfile's top functions of that pass instead;
`--history-days 60` fills the warehouse first (the healing and coverage queries' scan), with one logged request per
symbol and hour as hourly runs leave them, and every 1000th minute lacking (asked, not served). Prints one JSON line
per pass.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from datafactory_assets.launcher import start_emulator  # noqa: E402
from datafactory_assets.settings import is_symbol, load_universe_spec  # noqa: E402
from datafactory_assets.universe import resolve, write_cache  # noqa: E402
from datafactory_tests.helpers import universe_config  # noqa: E402


PASS = {
    "load": """
        import datafactory_assets
        result = {"symbols": len(datafactory_assets.definitions.settings.symbols)}
    """,
    "healing": """
        import dagster as dg
        from datafactory_assets.definitions import defs
        sensor = defs.resolve_sensor_def("candles_healing")
        with dg.instance_for_test() as instance:
            context = dg.build_sensor_context(instance=instance, resources=defs.resources)
            requests = sensor(context).run_requests
        result = {"runs": len(requests)}
    """,
    "hourly": """
        import dagster as dg
        from datafactory_assets.definitions import defs
        job = defs.resolve_job_def("candles_job")
        with dg.instance_for_test() as instance:
            outcome = job.execute_in_process(instance=instance, partition_key=HOUR, raise_on_error=False)
        result = {"success": outcome.success}
    """,
    "coverage": """
        import dagster as dg
        from datafactory_assets.definitions import defs
        job = defs.resolve_job_def("coverage_job")
        with dg.instance_for_test() as instance:
            outcome = job.execute_in_process(instance=instance, raise_on_error=False)
        result = {"success": outcome.success}
    """,
    "status": """
        import contextlib
        from datafactory_assets.cli import main
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            try:
                main(["status"], prog_name="datafactory")
            except SystemExit as exit:
                result = {"exit": exit.code}
    """,
}

TIMED = """
import json, os, resource, sys, time
HOUR = os.environ["HOUR"]
wall = time.perf_counter()
{body}
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"pass": "{name}", "wall_s": round(time.perf_counter() - wall, 2),
                  "cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "max_rss_mb": usage.ru_maxrss // 1024,
                  **result}}))
"""

PROFILED = """
import cProfile, os, pstats
HOUR = os.environ["HOUR"]
profiler = cProfile.Profile()
profiler.enable()
{body}
profiler.disable()
stats = pstats.Stats(profiler).sort_stats("cumulative")
stats.print_stats(30)
stats.print_stats("datafactory_assets|duckdb|ccxt|requests", 40)
print(result)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=200)
    parser.add_argument("--profile", choices=sorted(PASS))
    parser.add_argument("--only", choices=sorted(PASS), action="append", help="time this pass alone (repeatable)")
    parser.add_argument("--history-days", type=int, default=0,
                        help="also store this many whole days of flat candles per symbol before the closed hours "
                             "(what the healing query scans on a filled warehouse)")
    args = parser.parse_args()
    emulator, url = start_emulator()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = prepare(Path(tmp), url=url, top=args.top, history_days=args.history_days)
            chosen = [args.profile] if args.profile else args.only
            for name in chosen or ["load", "healing", "hourly", "coverage", "status"]:
                body = textwrap.dedent(PASS[name])
                script = (PROFILED if args.profile else TIMED).format(body=body, name=name)
                done = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True,
                                      text=True, check=False)
                print(done.stdout.strip() or done.stderr.strip()[-3000:], flush=True)
    finally:
        emulator.terminate()
        emulator.wait()


def prepare(tmp: Path, *, url: str, top: int, history_days: int) -> dict[str, str]:
    """The configuration, its resolved universe, and a warehouse holding the hour before the last closed one of
    every symbol, and `history_days` of flat candles before it."""
    from datetime import UTC, datetime, timedelta

    from datafactory_assets.assets.ingest import ingest_window
    from datafactory_assets.settings import load_settings
    from datafactory_assets.sources.resource import SourcesResource
    from datafactory_assets.warehouse import WarehouseResource

    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    config = tmp / "datafactory.toml"
    config.write_text(universe_config(start="2025-01-01", top=top, more='[warehouse]\npath = "warehouse.duckdb"\n'))
    spec = load_universe_spec(config, env={})
    write_cache(spec, resolve(spec, emulator_url=url, well_formed=is_symbol), source=url)
    settings = load_settings(config, env={})
    warehouse = WarehouseResource(path=str(settings.warehouse_path))
    sources = SourcesResource(emulator_url=url)
    for symbol in settings.symbols:
        ingest_window(symbol, start=hour - timedelta(hours=1), end=hour, sources=sources, warehouse=warehouse)
    with warehouse.connect() as conn:
        first = (hour - timedelta(hours=1) - timedelta(days=history_days)).replace(tzinfo=None)
        span = [[symbol.symbol for symbol in settings.symbols], first, (hour - timedelta(hours=1)).replace(tzinfo=None)]
        conn.execute("INSERT INTO candles SELECT s.symbol, r.ts, 1, 1, 1, 1, 1, 'bench', now() "
                     "FROM (SELECT unnest(?) AS symbol) s, range(?::TIMESTAMP, ?::TIMESTAMP, INTERVAL 1 MINUTE) r(ts) "
                     "WHERE epoch_ms(r.ts) // 60000 % 1000 <> 0", span)
        conn.execute("INSERT INTO ingest_log (requested_at, source, symbol, window_start, window_end, rows, "
                     "latency_ms, outcome, error_class, run_id) "
                     "SELECT now(), 'binance', s.symbol, r.ts, r.ts + INTERVAL 1 HOUR, 60, 50, 'ok', NULL, 'bench' "
                     "FROM (SELECT unnest(?) AS symbol) s, range(?::TIMESTAMP, ?::TIMESTAMP, INTERVAL 1 HOUR) r(ts)",
                     span)
    return {**os.environ, "DATAFACTORY_CONFIG": str(config), "DATAFACTORY_EMULATOR_URL": url,
            "PYTHONPATH": str(ROOT), "HOUR": f"{hour:%Y-%m-%d-%H:%M}", "DAGSTER_HOME": str(tmp)}


if __name__ == "__main__":
    main()
