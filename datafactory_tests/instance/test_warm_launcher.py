"""The warm run launcher on a real platform (webserver + daemon, the shipped embedded dagster.yaml, the emulator): a
run's worker is forked from the daemon's warm server, a cancel from the UI ends the run CANCELED, a worker killed with
SIGKILL fails its run at once and the next run completes; and the warm server holds no thread when it forks."""

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from datafactory_assets.hourly import PARTITION_FORMAT
from dagster import DagsterRun, DagsterRunStatus
from dagster._core.launcher import WorkerStatus

from datafactory_assets.instance.warm_launcher import WORKER_TAG, WarmRunLauncher, worker_identity
from datafactory_assets.warehouse import WarehouseResource
from datafactory_tests.e2e.platform import Platform, btc_config, wait_for

pytestmark = pytest.mark.xdist_group("e2e")

START = datetime(2024, 3, 1, tzinfo=UTC)
FIRST, LAST = START.strftime(PARTITION_FORMAT), (START + timedelta(hours=5)).strftime(PARTITION_FORMAT)
# A source answering 503 is retried for minutes (20 attempts 30 s apart, the breaker never opening): a run stays in
# its step until the test cancels or kills it.
CONFIG = btc_config(START, resilience="""
retry_attempts = 20
retry_backoff_s = 30
retry_max_backoff_s = 30
breaker_fail_max = 1000
""")
LAUNCH = """
mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
RUN = "query Run($id: ID!) { runOrError(runId: $id) { ... on Run { status tags { key value } } } }"
TERMINATE = "mutation Stop($id: String!) { terminateRun(runId: $id) { __typename } }"
ENGINE_EVENTS = """
query Events($id: ID!) { logsForRun(runId: $id, limit: 1000) { ... on EventConnection { events {
  __typename ... on EngineEvent { message } } } } }"""


@pytest.fixture(scope="module")
def platform(tmp_path_factory, emulator_session):
    with Platform(tmp_path_factory.mktemp("warm"), config_toml=CONFIG, emulator_url=emulator_session.url) as running:
        yield running


def launch(platform: Platform) -> str:
    launched = platform.graphql(LAUNCH, {"params": {
        "selector": {"repositoryLocationName": "datafactory", "repositoryName": "__repository__",
                     "jobName": "__ASSET_JOB", "assetSelection": [{"path": ["candles", "btc_usdt"]}]},
        "executionMetadata": {"tags": [{"key": "dagster/asset_partition_range_start", "value": FIRST},
                                       {"key": "dagster/asset_partition_range_end", "value": LAST}]},
    }})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def run(platform: Platform, run_id: str) -> tuple[str, dict[str, str]]:
    found = platform.graphql(RUN, {"id": run_id})["runOrError"]
    return found["status"], {tag["key"]: tag["value"] for tag in found["tags"]}


def started_worker(platform: Platform, run_id: str) -> int:
    """The pid of the run's worker once the run is STARTED (its step then waits on the failing source)."""
    status, tags = wait_for(lambda: (found := run(platform, run_id))[0] == "STARTED" and WORKER_TAG in found[1]
                            and found, timeout_s=180, what=f"run {run_id} started: " + platform.log("daemon")[-3000:])
    return json.loads(tags[WORKER_TAG])["pid"]


def parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def final_status(platform: Platform, run_id: str) -> str:
    return wait_for(lambda: (status := run(platform, run_id)[0]) in {"SUCCESS", "FAILURE", "CANCELED"} and status,
                    timeout_s=180, what=f"run {run_id} ended: " + platform.log("daemon")[-3000:])


def test_a_run_is_forked_from_the_warm_server_and_a_cancel_ends_it_canceled(platform, emulator):
    emulator.add_fault("binance:status:503")
    run_id = launch(platform)
    worker = started_worker(platform, run_id)

    server = parent(worker)
    assert b"multiprocessing.forkserver" in Path(f"/proc/{server}/cmdline").read_bytes()
    assert parent(server) == platform.procs[1].pid, "the warm server is the daemon's child"
    assert b"spawn_main" not in Path(f"/proc/{worker}/cmdline").read_bytes(), "forked, not a fresh interpreter"

    assert platform.graphql(TERMINATE, {"id": run_id})["terminateRun"]["__typename"] == "TerminateRunSuccess"
    assert final_status(platform, run_id) == "CANCELED"
    wait_for(lambda: not Path(f"/proc/{worker}").exists(), timeout_s=60, what=f"worker {worker} exited (reaped)")


def test_a_killed_worker_fails_its_run_and_the_next_run_completes(platform, emulator):
    emulator.add_fault("binance:status:503")
    killed = launch(platform)
    os.kill(started_worker(platform, killed), signal.SIGKILL)

    assert final_status(platform, killed) == "FAILURE"
    messages = [e.get("message", "") for e in platform.graphql(ENGINE_EVENTS, {"id": killed})["logsForRun"]["events"]]
    assert any("SIGKILL" in message for message in messages), messages

    emulator.clear_faults()
    assert final_status(platform, launch(platform)) == "SUCCESS"
    with WarehouseResource(path=str(platform.warehouse_path)).connect(read_only=True) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT ts) FROM candles").fetchone() == (6 * 60, 6 * 60)


def test_a_worker_is_healthy_while_its_process_runs_and_failed_once_it_is_gone_or_its_pid_reused():
    """What run monitoring asks about a run whose worker an earlier daemon started."""
    launcher, process = WarmRunLauncher(), subprocess.Popen(["sleep", "600"])

    def health(identity: dict | None) -> WorkerStatus:
        tags = {WORKER_TAG: json.dumps(identity)} if identity else {}
        run = DagsterRun(job_name="job", run_id="r", status=DagsterRunStatus.STARTED, tags=tags)
        return launcher.check_run_worker_health(run).status

    try:
        assert health(worker_identity(process.pid)) == WorkerStatus.RUNNING
        assert health({"pid": process.pid, "start": 1}) == WorkerStatus.FAILED, "the pid is another process's now"
        assert health(None) == WorkerStatus.RUNNING, "a run the code server started is the code server's to watch"
        elsewhere = {**worker_identity(process.pid), "host": "another-machine"}
        assert health(elsewhere) == WorkerStatus.RUNNING, "another machine's daemon watches its own workers"
        process.kill()
        wait_for(lambda: Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z",
                 timeout_s=30, what="the killed process became a zombie")
        assert health(worker_identity(process.pid)) == WorkerStatus.FAILED, "a zombie is no worker"
    finally:
        process.kill()
        process.wait()
    assert health({"pid": process.pid, "start": None}) == WorkerStatus.FAILED


def test_without_a_forkserver_runs_start_cold_with_one_line_saying_so(monkeypatch, caplog):
    monkeypatch.setattr("multiprocessing.get_all_start_methods", lambda: ["spawn"])
    launcher, run = WarmRunLauncher(), DagsterRun(job_name="job", run_id="r")

    assert launcher._warm_context(run) is None and launcher._warm_context(run) is None  # noqa: SLF001
    assert [r.getMessage() for r in caplog.records] == [
        "runs start cold, through the code server (Dagster's DefaultRunLauncher): this platform has no forkserver"]


def test_the_warm_server_has_no_thread_but_its_own_when_it_forks_and_ends_with_its_parent():
    """Started from a process of its own, which then exits, as the daemon does when the platform stops."""
    probe = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=300, check=True)
    server, threads, argv = probe.stdout.splitlines()
    assert "multiprocessing.forkserver" in argv
    assert threads == "1", f"threads of the warm server after its preload: {threads}"
    wait_for(lambda: not Path(f"/proc/{server}").exists(), timeout_s=60, what=f"the warm server {server} exited")


def parent_pid(queue) -> None:
    """Runs in the forked child: tells who forked it."""
    queue.put(os.getppid())


_PROBE = """
import multiprocessing, os
from datafactory_assets.instance.warm_launcher import PRELOAD
from datafactory_tests.instance.test_warm_launcher import parent_pid

if __name__ == "__main__":
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    queue = context.SimpleQueue()
    child = context.Process(target=parent_pid, args=(queue,))
    child.start()
    server = queue.get()
    child.join()
    print(server)
    print(len(os.listdir(f"/proc/{server}/task")))
    print(open(f"/proc/{server}/cmdline").read())
"""
