"""`datafactory up --offline`, the quick start's first command: webserver, daemon and emulator come up under the
offline code location, the hourly schedule is running, and a run launched through GraphQL stores candles from the
emulator. Its log files fill while it runs, and its terminal shows what needs a person, not every event."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import requests

from datafactory_assets.instance.profiles import template
from datafactory_assets.launcher import free_port
from datafactory_assets.processes import descendants
from datafactory_assets.settings import REPO_ROOT

pytestmark = pytest.mark.xdist_group("e2e")

REPOSITORIES = """
{ repositoriesOrError { ... on RepositoryConnection { nodes {
    name location { name } schedules { name scheduleState { status } } } } } }"""

DAEMONS = "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }"

LAUNCH = """
mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""

RUN = "query Run($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"

ASSETS = "{ assetNodes { assetKey { path } description partitionStats { numMaterialized } } }"


def graphql(url, query, variables=None):
    body = requests.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60).json()
    assert not body.get("errors"), body
    return body["data"]


def wait_for(predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except requests.ConnectionError:
            pass
        time.sleep(1)
    raise TimeoutError(what)


def test_up_offline_runs_the_platform_against_the_emulator(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    warehouse = tmp_path / "offline.duckdb"
    config = tmp_path / "datafactory.toml"  # the shipped universe; healing off so the counts below are exact
    shipped = (REPO_ROOT / "datafactory.toml").read_text()
    assert "\n# enabled = false" in shipped
    config.write_text(shipped.replace("\n# enabled = false", "\nenabled = false"))
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "DATAFACTORY_WAREHOUSE": str(warehouse),
           "DATAFACTORY_CONFIG": str(config)}
    env.pop("DATAFACTORY_EMULATOR_URL", None)
    log = open(tmp_path / "up.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([Path(sys.executable).parent / "datafactory", "up", "--offline", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def serving() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"datafactory up exited: {(tmp_path / 'up.log').read_text()[-3000:]}")
            return requests.get(f"{url}/server_info", timeout=2).ok

        wait_for(serving, 180, "webserver")
        (repo,) = graphql(url, REPOSITORIES)["repositoriesOrError"]["nodes"]
        assert {s["name"]: s["scheduleState"]["status"] for s in repo["schedules"]} == {  # spot pairs, perpetuals
            "candles_job_2025010100_hourly": "RUNNING", "candles_job_2026110100_hourly": "RUNNING",
            "coverage_hourly": "RUNNING"}
        wait_for(lambda: any(d["daemonType"] == "SCHEDULER" and d["healthy"] for d in graphql(url, DAEMONS)[
            "instance"]["daemonHealth"]["allDaemonStatuses"]), 120, "scheduler daemon healthy")
        launched = graphql(url, LAUNCH, {"params": {
            "selector": {"repositoryLocationName": repo["location"]["name"], "repositoryName": repo["name"],
                         "jobName": "candles_job_2025010100"},
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "2025-06-01-10:00"}]},
        }})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        status = {}
        wait_for(lambda: status.update(graphql(url, RUN, {"id": run_id})["runOrError"]) or status["status"] in {
            "SUCCESS", "FAILURE", "CANCELED"}, 180, "run finished")
        assert status["status"] == "SUCCESS", (tmp_path / "up.log").read_text()[-3000:]
        assets = {"/".join(a["assetKey"]["path"]): a for a in graphql(url, ASSETS)["assetNodes"]}
        assert all(a["description"].startswith("offline: emulator data") for a in assets.values()), assets
        assert assets["candles/btc_usdt"]["partitionStats"]["numMaterialized"] == 1  # the event log has it
        assert_logs_fill_while_running(proc.pid, tmp_path / "home", run_id)
    finally:
        children = {pid: started_at(pid) for pid in descendants(proc.pid)}  # some sit in sessions of their own
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        for pid, started in children.items():
            if started is not None and started_at(pid) == started:  # still ours, not a reused pid
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        log.close()
    assert (tmp_path / "home" / "dagster.yaml").read_text() == template("embedded")
    assert (tmp_path / "home" / "datafactory-mode").read_text() == "offline\n"
    assert repo["location"]["name"] == "datafactory-offline"
    terminal = (tmp_path / "up.log").read_text()
    assert f"Serving dagster-webserver on {url}" in terminal and "history: " in terminal
    assert " - DEBUG - " not in terminal and "ASSET_MATERIALIZATION" not in terminal, terminal[-3000:]
    assert terminal.rstrip().endswith("platform stopped"), terminal[-3000:]  # Ctrl-C's aftermath in the file only
    conn = duckdb.connect(str(warehouse), read_only=True)
    assert conn.execute("SELECT symbol, count(*) FROM candles GROUP BY symbol ORDER BY symbol").fetchall() == [
        ("ADA/USDT", 60), ("BTC/USDT", 60), ("ETH/USDT", 60), ("SOL/USDT", 60)]
    conn.close()


def started_at(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


def assert_logs_fill_while_running(pid: int, home: Path, run_id: str) -> None:
    """The rotating files hold the platform's and the emulator's output now, and no process of the platform writes
    to a deleted file (Dagster's telemetry upload used to move DAGSTER_HOME/logs away and delete it)."""
    logs = home / "platform-logs"
    wait_for(lambda: run_id in (logs / "dagster.log").read_text(), 60, "the run in dagster.log")
    assert "Serving dagster-webserver on" in (logs / "dagster.log").read_text()
    assert (logs / "emulator.log").exists()
    for process in [pid, *descendants(pid)]:
        try:
            held = [os.readlink(fd) for fd in Path(f"/proc/{process}/fd").iterdir()]
        except OSError:  # it ended meanwhile
            continue
        assert not [f for f in held if f.endswith("(deleted)") and str(home) in f], (process, held)
