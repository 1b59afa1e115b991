"""The CPU cost of the code location's definitions, paid by every Dagster process that loads them.

The webserver, the daemon, the code server, every run worker and every `datafactory` command that needs Dagster
import `datafactory_assets.definitions` and build from it; at 200 symbols that was a tenth of `bench/history.py
--workload b`'s run workers' CPU. Each pass runs in a fresh process (nothing warm that a new run worker would not
have) and measures, in CPU seconds (the machine is shared: CPU time is what the load from elsewhere does not inflate):
  preload     the third-party modules a warm run worker inherits (`instance/warm_launcher.py`'s `PRELOAD`: Dagster,
              ccxt, duckdb...), imported first as every Dagster process has before it loads us, then frozen out of the
              garbage collector's passes as a warm run worker does (context only);
  module      importing `datafactory_assets.definitions`: settings, every asset, check, sensor and resource;
  repository  `Definitions.get_repository_def()`: Dagster resolving and validating them;
  job         what a run worker of a backfill does next (`ReconstructableJob.get_definition` calls
              `RepositoryDefinition.get_maybe_subset_job_def`): the implicit asset job subset to one candle asset and
              its checks;
  ours        module + repository + job.
Two universes: the shipped `datafactory.toml` and `--symbols` (200) of the emulator's USDT pairs collecting spot
candles, declared as `bench/history.py --workload b` declares them, in offline mode (every source at the emulator) as
that benchmark's platform runs, with Python's bytecode cache on (a first, untimed pass writes it). Prints the median
of `--runs` passes per universe, one JSON line each;
`--profile FILE` instead keeps one pass's cProfile of the 200-symbol universe in FILE for `python -m pstats`;
`--snapshot DIR` instead writes each universe's code location as the webserver receives it (Dagster's
`RepositorySnap`: every asset, check, partitions, metadata, tags, group, automation, job, schedule, sensor,
resource) and the backfill run's subset job, as sorted JSON: two trees' files compare with `cmp`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from harness import ROOT, platform_env, start_emulator, write_config
from history import END, listed_symbols

from datafactory_assets.instance.warm_launcher import PRELOAD

PASS = """
import gc, importlib, json, sys, time
began = time.process_time()
for name in sys.argv[1].split(","):
    importlib.import_module(name)
gc.freeze()  # as a warm run worker does first
marks = {"preload": time.process_time() - began}
profiler = None
mode, path = sys.argv[2:] or (None, None)
if mode == "profile":
    import cProfile
    profiler = cProfile.Profile()
    profiler.enable()
began = time.process_time()
from datafactory_assets.definitions import defs, settings
from datafactory_assets.assets import candle_key
marks["module"] = time.process_time() - began
began = time.process_time()
repository = defs.get_repository_def()
marks["repository"] = time.process_time() - began
began = time.process_time()
key = candle_key(settings.symbols[0])
checks = {check for check in repository.asset_graph.asset_check_keys if check.asset_key == key}
job = repository.get_maybe_subset_job_def("__ASSET_JOB", asset_selection={key}, asset_check_selection=checks)
marks["job"] = time.process_time() - began
if profiler:
    profiler.disable()
    profiler.dump_stats(path)
assert job.asset_layer.executable_asset_keys == {key}, job.asset_layer.executable_asset_keys
if mode == "snapshot":
    from dagster._core.remote_representation.external_data import JobDataSnap, RepositorySnap
    from dagster._serdes import serialize_value
    snapshot = {"repository": RepositorySnap.from_def(repository),
                "job": JobDataSnap.from_job_def(job, include_parent_snapshot=False)}
    with open(path, "w") as out:
        json.dump({name: json.loads(serialize_value(snap)) for name, snap in snapshot.items()}, out, sort_keys=True,
                  indent=1)
marks["ours"] = marks["module"] + marks["repository"] + marks["job"]
print(json.dumps({"assets": len(repository.asset_graph.get_all_asset_keys()), **marks}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per universe; the median is printed")
    parser.add_argument("--symbols", type=int, default=200)
    parser.add_argument("--profile", type=Path, help="keep one profiled pass of the --symbols universe here instead")
    parser.add_argument("--snapshot", type=Path, help="write each universe's snapshot into this folder instead")
    args = parser.parse_args()
    emulator, url = start_emulator(budget=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            symbols = listed_symbols(url, args.symbols, market="spot")
            universes = {f"{args.symbols} symbols": write_config(workdir, symbols, END - timedelta(days=7)),
                         "shipped": ROOT / "datafactory.toml"}
            if args.profile:
                env = bytecode_cached(platform_env(workdir, config=universes[f"{args.symbols} symbols"],
                                                   emulator_url=url), workdir=workdir)
                run_pass(env)
                run_pass(env, mode="profile", path=args.profile.resolve())
                print(f"profile of one pass at {args.symbols} symbols in {args.profile}")
                return
            for name, config in universes.items():
                env = bytecode_cached(platform_env(workdir, config=config, emulator_url=url), workdir=workdir)
                if args.snapshot:  # the same emulator URL and warehouse path whatever the run: resources' defaults
                    args.snapshot.mkdir(parents=True, exist_ok=True)
                    run_pass({**env, "DATAFACTORY_EMULATOR_URL": "http://127.0.0.1:9",
                              "DATAFACTORY_WAREHOUSE": "/snapshot/warehouse.duckdb"},
                             mode="snapshot", path=(args.snapshot / f"{name.replace(' ', '_')}.json").resolve())
                    continue
                passes = [run_pass(env) for _ in range(args.runs + 1)][1:]  # the first writes the bytecode cache
                print(json.dumps({"universe": name, "assets": passes[0]["assets"], "runs": args.runs,
                                  **{f"{mark}_cpu_s": round(statistics.median(p[mark] for p in passes), 3)
                                     for mark in ("preload", "module", "repository", "job", "ours")}}), flush=True)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


def bytecode_cached(env: dict, *, workdir: Path) -> dict:
    """`env` with Python's bytecode cache on, as a user's processes have it (an environment that turns it off,
    `PYTHONDONTWRITEBYTECODE`, makes every process compile our modules again), kept under `workdir` so that nothing
    is written into the tree or the venv."""
    env = {**env, "PYTHONPYCACHEPREFIX": str(workdir / "pycache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_pass(env: dict, *, mode: str | None = None, path: Path | None = None) -> dict:
    done = subprocess.run([sys.executable, "-c", PASS, ",".join(PRELOAD), *([mode, str(path)] if mode else [])],
                          env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(done.stderr.strip()[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
