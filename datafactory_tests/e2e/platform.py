"""A real platform for end-to-end tests: dagster-webserver and dagster-daemon on 127.0.0.1 with a temporary
DAGSTER_HOME, our instance config and a test universe, fed by the exchange emulator."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import requests

from datafactory_assets.instance.environment import dagster_environment
from datafactory_assets.instance.profiles import write_instance_config
from datafactory_assets.launcher import free_port
from datafactory_assets.processes import descendants
from datafactory_assets.settings import REPO_ROOT

BIN = Path(sys.executable).parent


class Platform:
    """Starts webserver + daemon on enter, stops them on exit; `graphql()` talks to the webserver."""

    def __init__(self, workdir: Path, *, config_toml: str, emulator_url: str, instance_profile: str = "embedded",
                 extra_env: dict[str, str] | None = None):
        """`instance_profile` picks the dagster.yaml (see datafactory_assets/instance/profiles.py); `extra_env` adds
        what it needs, such as the DATAFACTORY_PG_* of a test PostgreSQL server."""
        self.workdir = workdir
        self.instance_profile = instance_profile
        self.dagster_home = workdir / "dagster_home"
        self.warehouse_path = workdir / "warehouse.duckdb"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "datafactory.toml"
        # healing would start filling every test universe's history from its start date: tests opt in to it
        healing_off = "" if "[healing]" in config_toml else "\n[healing]\nenabled = false\n"
        config.write_text(config_toml + healing_off)
        self.env = {
            **dagster_environment(os.environ),
            "DAGSTER_HOME": str(self.dagster_home),
            "DATAFACTORY_CONFIG": str(config),
            "DATAFACTORY_WAREHOUSE": str(self.warehouse_path),
            "DATAFACTORY_EMULATOR_URL": emulator_url,
            **(extra_env or {}),
        }
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> Platform:
        write_instance_config(self.dagster_home, self.instance_profile)
        # migrate once before several processes open the fresh SQLite storage at the same time
        subprocess.run([BIN / "dagster", "instance", "migrate"], env=self.env, check=True, cwd=REPO_ROOT,
                       capture_output=True)
        workspace = str(REPO_ROOT / "workspace.yaml")
        self._spawn("webserver", [BIN / "dagster-webserver", "-w", workspace, "-h", "127.0.0.1",
                                  "-p", str(self.port)])
        self._spawn("daemon", [BIN / "dagster-daemon", "run", "-w", workspace])
        self._wait_for_webserver()
        return self

    def __exit__(self, *exc) -> None:
        """Stop webserver and daemon, then whatever they started and left behind: their code servers outlive them
        (orphaned `dagster api grpc` processes that ignore SIGTERM), and the suite must leave no process: also any
        process still naming the platform's folder, such as the `tail -F` of a compute log that a run worker killed
        between starting it and its watcher (Dagster's `watch_orphans`) leaves to init."""
        children = [pid for proc in self.procs for pid in descendants(proc.pid)]
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for pid in children + _mentioning(self.workdir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _spawn(self, name: str, argv: list) -> None:
        log = open(self.workdir / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        self.procs.append(subprocess.Popen([str(a) for a in argv], env=self.env, cwd=REPO_ROOT, stdout=log,
                                           stderr=subprocess.STDOUT))

    def _wait_for_webserver(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                raise RuntimeError(f"a platform process died; see logs in {self.workdir}")
            try:
                if requests.get(f"{self.url}/server_info", timeout=2).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"webserver did not answer within {timeout_s}s; see {self.workdir}")

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        answer = requests.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}},
                               timeout=60)
        answer.raise_for_status()
        body = answer.json()
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def run_worker(self) -> int | None:
        """A process executing a run, if one is alive: a child of the daemon's warm run server (forked, so with the
        server's command line) or, for runs that started cold, one a code server spawned (multiprocessing's
        spawn_main)."""
        for proc in self.procs:
            for pid in descendants(proc.pid):
                try:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes()
                    parent = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
                    forked = b"forkserver" in argv and b"forkserver" in Path(f"/proc/{parent}/cmdline").read_bytes()
                except OSError:
                    continue
                if forked or b"spawn_main" in argv:
                    return pid
        return None

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text()

    def materialize(self, asset_names: list[str], *, first: str, last: str, datasets: Sequence[str] = ("candles",),
                    timeout_s: float = 300) -> str:
        """Launch one run of the assets `<dataset>/<name>` of every dataset and name given (spot candles unless
        told) over the partition range first..last (keys like 2024-03-01-00:00) and return its final status: a real
        run, executed by the daemon like one started in the UI."""
        selection = [{"path": [dataset, name]} for dataset in datasets for name in asset_names]
        launched = self.graphql(_LAUNCH_RUN, {"params": {
            "selector": {"repositoryLocationName": "datafactory", "repositoryName": "__repository__",
                         "jobName": "__ASSET_JOB", "assetSelection": selection},
            "executionMetadata": {"tags": [{"key": "dagster/asset_partition_range_start", "value": first},
                                           {"key": "dagster/asset_partition_range_end", "value": last}]},
        }})["launchRun"]
        if launched["__typename"] != "LaunchRunSuccess":
            raise RuntimeError(f"run of {asset_names} {first}..{last} not launched: {launched}")
        run_id = launched["run"]["runId"]
        return wait_for(lambda: (s := self.graphql(_RUN_STATUS, {"id": run_id})["runOrError"]["status"]) in _RUN_DONE
                        and s, timeout_s=timeout_s, what=f"run {run_id} finished; see {self.workdir}")


_LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
_RUN_STATUS = "query Run($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
_RUN_DONE = {"SUCCESS", "FAILURE", "CANCELED"}


def wait_for(predicate, *, timeout_s: float, what: str):
    """The first truthy value `predicate()` returns, polled twice a second; TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.5)
    raise TimeoutError(what)


def btc_config(start, *, resilience: str) -> str:
    """A platform config collecting BTC/USDT 1m candles from Binance alone from `start`, with the `[resilience]`
    lines given (how long a failing source is retried decides how long a run stays in its step)."""
    return (f'[defaults]\ntimeframe = "1m"\nstart = "{start:%Y-%m-%d}"\nsources = ["binance"]\n[symbols]\n'
            f'"BTC/USDT" = {{}}\n[resilience]\n{resilience.strip()}\n')


def _mentioning(folder: Path) -> list[int]:
    """The processes other than this one whose command line names `folder`."""
    found, needle = [], str(folder).encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if needle in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found
