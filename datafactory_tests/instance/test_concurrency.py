"""The shipped embedded instance (`instance/dagster.yaml`, as `write_instance_config` writes it) with the real
`dagster asset materialize`, each run in its own process: runs of two symbols fetch at the same time, and a run
killed with SIGKILL mid-step leaves nothing that the next run on the same DAGSTER_HOME waits for.

No timing assumption decides them. The emulator's barrier fault answers a symbol's candle request only once the other
symbol's has arrived, so two runs whose fetches are serialized (a pool slot, a lock held while fetching) get the venue's
503 until they fail, and parallel ones pass; a second barrier on the accuracy check's reference (OKX) does the same for
the request a run makes after reading what it stored. The kill comes while the emulator holds the run's request (a
timeout fault, seen in its request log), so the run is mid-step. Every process is started in a session of its own and
killed with it at the end, and every wait is bounded.
"""

import os
import signal
import subprocess
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from datafactory_assets.instance.profiles import template, write_instance_config
from datafactory_assets.settings import REPO_ROOT
from datafactory_tests.e2e.platform import BIN, wait_for

CONFIG = """
[defaults]
timeframe = "1m"
start = "2024-03-01"
sources = ["binance"]
[symbols]
"BTC/USDT" = {}
"ETH/USDT" = {}
[accuracy]
reference = "okx"
[healing]
enabled = false
"""
PARTITION = "2024-03-01-00:00"
RUN_TIMEOUT_S = 240  # a one-hour run takes seconds; a run waiting for a slot nobody gives back would never end


class Instance:
    """A temporary DAGSTER_HOME with the shipped embedded dagster.yaml, a two-symbol universe pointed at the
    emulator, and the `dagster asset materialize` processes started on it (all killed on exit)."""

    def __init__(self, workdir: Path, emulator_url: str):
        self.workdir = workdir
        self.dagster_home = workdir / "dagster_home"
        self.warehouse = workdir / "warehouse.duckdb"
        (workdir / "datafactory.toml").write_text(CONFIG)
        self.env = {**os.environ, "DAGSTER_HOME": str(self.dagster_home),
                    "DATAFACTORY_CONFIG": str(workdir / "datafactory.toml"),
                    "DATAFACTORY_WAREHOUSE": str(self.warehouse), "DATAFACTORY_EMULATOR_URL": emulator_url}
        self.procs: dict[subprocess.Popen, Path] = {}  # each process and the file its output goes to

    def __enter__(self):
        assert write_instance_config(self.dagster_home).read_text() == template("embedded")
        # migrate once before several processes open the fresh SQLite storage at the same time
        subprocess.run([BIN / "dagster", "instance", "migrate"], env=self.env, cwd=REPO_ROOT, check=True,
                       capture_output=True, timeout=120)
        return self

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    def materialize(self, asset: str) -> subprocess.Popen:
        path = self.workdir / f"{asset}-{len(self.procs)}.log"
        log = open(path, "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([BIN / "dagster", "asset", "materialize", "-m", "datafactory_assets.definitions",
                                 "--select", f"candles/{asset}", "--partition", PARTITION],
                                env=self.env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs[proc] = path
        return proc

    def outcome(self, proc: subprocess.Popen) -> str:
        """`exit 0`, another exit code, or `still running after ...`, with the process's output to tell why."""
        try:
            code = proc.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return f"still running after {RUN_TIMEOUT_S}s"
        if code == 0:
            return "exit 0"
        return f"exit {code}: " + self.procs[proc].read_text()[-3000:]

    def stored(self, symbol: str) -> tuple[int, int]:
        """(rows, distinct open times) of `symbol` in the warehouse."""
        with duckdb.connect(str(self.warehouse), read_only=True) as conn:
            return conn.execute("SELECT count(*), count(DISTINCT ts) FROM candles WHERE symbol = ?",
                                [symbol]).fetchone()

    def run_statuses(self) -> list[dg.DagsterRunStatus]:
        """Every run's status, oldest first, as the instance records them."""
        with dg.DagsterInstance.from_config(str(self.dagster_home)) as instance:
            return [run.status for run in reversed(instance.get_runs())]


@pytest.fixture
def instance(tmp_path, emulator, monkeypatch):
    with Instance(tmp_path, emulator.url) as made:
        monkeypatch.setenv("DAGSTER_HOME", str(made.dagster_home))  # read back as a Dagster process would
        yield made


def test_runs_of_two_symbols_fetch_at_the_same_time(instance, emulator):
    emulator.add_fault("binance:barrier:BTCUSDT,ETHUSDT")
    emulator.add_fault("okx:barrier:BTC-USDT,ETH-USDT")
    runs = [instance.materialize("btc_usdt"), instance.materialize("eth_usdt")]
    assert [instance.outcome(run) for run in runs] == ["exit 0", "exit 0"]
    held = sorted((r["venue"], r["status"]) for r in emulator.request_log() if r["fault"])
    assert held == [("binance", 200), ("binance", 200), ("okx", 200), ("okx", 200)], (
        "each symbol's candles and reference answered at the first try, held together")
    assert instance.stored("BTC/USDT") == instance.stored("ETH/USDT") == (60, 60)


def test_a_run_killed_mid_step_leaves_nothing_the_next_run_waits_for(instance, emulator):
    emulator.add_fault("binance:timeout:60")  # until cleared: every try of the step is held
    killed = instance.materialize("btc_usdt")
    wait_for(lambda: any(r["fault"] for r in emulator.request_log()), timeout_s=RUN_TIMEOUT_S,
             what="the run never asked the emulator for candles")
    os.killpg(killed.pid, signal.SIGKILL)
    assert killed.wait(timeout=30) == -signal.SIGKILL
    emulator.clear_faults()
    assert instance.outcome(instance.materialize("btc_usdt")) == "exit 0"
    assert instance.stored("BTC/USDT") == (60, 60)
    assert instance.run_statuses() == [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.SUCCESS], (
        "the killed run is still recorded in progress: nothing released it, and nothing had to")
