"""How long a small run takes to start: one symbol's one hour, the size of an hourly run, launched through a real
platform (`datafactory up`, the shipped embedded instance) one after another, timed from the daemon's launch
(RUN_STARTING) to the run's first step (STEP_START) and to its end, read from the instance's event log.

`python bench/run_start.py [--runs N]`; prints each run's seconds, then one JSON line with the medians. Run it from a
tree whose instance config to measure (PYTHONPATH=that tree).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from harness import ROOT, platform_env, start_emulator, start_platform, stop, write_config

LAUNCH = """
mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
STATUS = "query Run($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
DAY = datetime(2024, 6, 3, tzinfo=UTC)
# read in a process of its own, after the platform stopped: Dagster is imported there, not in this one
PHASES = """
import json, sys, dagster as dg
E = dg.DagsterEventType
with dg.DagsterInstance.get() as instance:
    for run_id in sys.argv[1:]:
        times = {}
        for entry in instance.all_logs(run_id, of_type={E.RUN_STARTING, E.STEP_START, E.RUN_SUCCESS}):
            times.setdefault(entry.dagster_event_type, entry.timestamp)
        print(json.dumps({"first_step": times[E.STEP_START] - times[E.RUN_STARTING],
                          "end": times[E.RUN_SUCCESS] - times[E.RUN_STARTING]}))
"""


def graphql(url: str, query: str, variables: dict) -> dict:
    answer = requests.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=60)
    answer.raise_for_status()
    return answer.json()["data"]


def one_run(url: str, hour: datetime) -> str:
    """Launch one hour of BTC/USDT and wait for its end; its run id."""
    launched = graphql(url, LAUNCH, {"params": {
        "selector": {"repositoryLocationName": "datafactory", "repositoryName": "__repository__",
                     "jobName": "__ASSET_JOB", "assetSelection": [{"path": ["candles", "btc_usdt"]}]},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": f"{hour:%Y-%m-%d-%H:%M}"}]},
    }})["launchRun"]
    run_id = launched["run"]["runId"]
    while (status := graphql(url, STATUS, {"id": run_id})["runOrError"]["status"]) not in {"SUCCESS", "FAILURE"}:
        time.sleep(0.2)
    if status != "SUCCESS":
        raise SystemExit(f"run {run_id} ended {status}")
    return run_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=6)
    args = parser.parse_args()
    emulator, emulator_url = start_emulator(budget=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            env = platform_env(workdir, config=write_config(workdir, ["BTC/USDT"], DAY), emulator_url=emulator_url)
            platform, url = start_platform(env, workdir)
            try:
                run_ids = [one_run(url, DAY + timedelta(hours=hour)) for hour in range(args.runs)]
            finally:
                stop(platform)
            lines = subprocess.run([sys.executable, "-c", PHASES, *run_ids], env=env, cwd=ROOT, check=True,
                                   capture_output=True, text=True).stdout.splitlines()
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    phases = [json.loads(line) for line in lines]
    for number, phase in enumerate(phases, 1):
        print(f"run {number}: first step {phase['first_step']:.2f} s after its launch, "
              f"ended after {phase['end']:.2f} s")
    print(json.dumps({name: round(statistics.median(p[name] for p in phases), 2) for name in ("first_step", "end")}
                     | {"runs": len(phases)}))


if __name__ == "__main__":
    main()
