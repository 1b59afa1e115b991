"""Run workers started warm: each run is a process forked from a server that has already imported Dagster and the
heavy libraries, instead of a fresh interpreter that imports them first.

**Why.** Dagster's DefaultRunLauncher asks the code server to start a run, and the code server starts a new Python
interpreter for it (`multiprocessing.get_context("spawn")`, hard-coded in `dagster/_grpc/server.py`). Before its first
step every run worker then imports Dagster, ccxt, polars, duckdb, SQLAlchemy, pydantic... (about 2-3 CPU-s and 5.6 s
of wall time when four start at once on two cores, measured with bench/history.py): every backfill run, the hourly
run, each healing and rollup run paid it.

**How.** The daemon's QueuedRunCoordinator hands each run it dequeues to `WarmRunLauncher.launch_run`, in the daemon.
The launcher starts the run in a process of Python's `multiprocessing` "forkserver" context: the first launch starts
the warm server (one `python -c "from multiprocessing.forkserver import main..."` process, child of the daemon),
which imports `PRELOAD` once (the first runs after the daemon starts wait for that, about a second on a quiet
machine) and then forks one child per run; the child unpickles `_run_worker` and runs the run the
way Dagster's own run worker does (`dagster api execute_run`: the instance from its ref, the job reconstructed from
the run's code origin, "Started process for run (pid: N)", the interrupt handling that lets a cancel stop a step).
The code location itself is imported by each child, as before: a changed source file, DATAFACTORY_CONFIG or
universe cache is seen by the next run. Only third-party modules are preloaded: our own modules (definitions built
from the config at import time, storage classes registered with Dagster's serdes) cannot be re-imported cleanly in
a child that found them stale. The preloaded imports start no thread (checked: the warm server has one thread after
them, see its test): a process that forks must hold no other thread, whose locks the child would inherit held.

**Cancel, crash, shutdown.** The run's tag `datafactory/run_worker` holds its worker's machine, pid and start time,
so any process on that machine (webserver, a restarted daemon, the CLI) can cancel it: `terminate` reports the run
canceling and sends the worker SIGINT, which Dagster's interrupt handling turns into a canceled run, as the code
server's termination thread does. The daemon watches each worker it launched and, when one exits while its run is
unfinished (`kill -9`, out of memory), reports the crash and fails the run at once, as the code server does for its
children; for workers of an earlier daemon, `check_run_worker_health` lets run monitoring (enabled in both profiles)
fail the run within its poll interval. The warm server reaps its children, ignores Ctrl-C and exits when the daemon
does (its end of a pipe closes); workers running then keep running, like the code server's workers when only the
daemon stops; Ctrl-C on `datafactory up` reaches them directly (they stay in the daemon's process group, which is
`dagster dev`'s), so they are interrupted as `datafactory up` says runs in progress are.

**Fallback.** Without a forkserver (a platform without fork), for a code location served by another interpreter, or
when the warm server cannot start, the run goes through the DefaultRunLauncher this class extends, with one log
line saying why.

**Private APIs, wrapped here.** Dagster has no public function that executes a run in the current process the way
its run workers do: `dagster._cli.api._execute_run_command_body` is what `dagster api execute_run` (the entry point
of the Docker and Kubernetes launchers' workers) calls, and `dagster._utils.interrupts.capture_interrupts` is how
those workers turn SIGINT into a clean interruption between steps; `get_run_crash_explanation` words a dead worker's
exit as the code server does. multiprocessing keeps every started process in `multiprocessing.process._children`
and joins them when the daemon exits; a worker is taken out of it so that stopping the daemon does not wait for runs.
The run launcher interface's own types (`dagster._core.launcher`) and the serialization of the instance ref
(`dagster._serdes`, as the code server's workers receive it) are what every Dagster run launcher imports.
"""

from __future__ import annotations

import gc
import json
import logging
import multiprocessing
import multiprocessing.process
import os
import signal
import socket
import sys
import threading
from pathlib import Path

from dagster import DagsterInstance, DagsterRun, DefaultRunLauncher
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._serdes import deserialize_value, serialize_value
from dagster._utils import get_run_crash_explanation

log = logging.getLogger(__name__)

WORKER_TAG = "datafactory/run_worker"
# What a run worker imports before its first step, measured with `python -X importtime -c "import
# datafactory_assets.definitions"` and a run's own imports: Dagster's execution path and storages, ccxt (half a
# second on its own), DuckDB, the HTTP stack. None of them starts a thread on import. Left out because their import
# starts threads (counted in /proc/self/task): polars (jemalloc's background threads and its out-of-core cleaner)
# and numpy (OpenBLAS's pool); about 0.1 s each, imported by each run worker.
PRELOAD = (
    "dagster", "dagster._cli.api", "dagster._core.execution.api", "dagster._core.storage.event_log.sqlite",
    "dagster._core.storage.runs.sqlite", "dagster._core.storage.schedules.sqlite", "sqlalchemy", "alembic",
    "ccxt", "duckdb", "requests", "pydantic", "yaml", "pyrate_limiter", "tenacity", "pybreaker",
)


class WarmRunLauncher(DefaultRunLauncher):
    """Launches each run in a process forked from a warm server (see the module docstring); Dagster's
    DefaultRunLauncher where that cannot be done."""

    def __init__(self, inst_data=None):
        super().__init__(inst_data=inst_data)
        self._context = None
        self._cold_reason: str | None = None
        self._lock = threading.Lock()

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        warm = self._warm_context(run)
        if warm is None:
            super().launch_run(context)
            return
        process = warm.Process(target=_run_worker, args=(run.run_id, serialize_value(self._instance.get_ref())),
                               name=f"dagster-run-{run.run_id}")
        try:
            process.start()
        except Exception as error:  # noqa: BLE001 - any failure of the warm server: the run starts cold instead
            self._go_cold(f"the warm run server did not start ({error!r})")
            super().launch_run(context)
            return
        # multiprocessing joins its children when the daemon exits; Dagster's workers outlive a stopped daemon
        multiprocessing.process._children.discard(process)  # noqa: SLF001 - see the module docstring
        self._instance.add_run_tags(run.run_id, {WORKER_TAG: json.dumps(worker_identity(process.pid))})
        self._run_ids.add(run.run_id)
        threading.Thread(target=self._watch, args=(run.run_id, process), name=f"watch-{run.run_id}",
                         daemon=True).start()

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id) if self.has_instance else None
        if run is None or WORKER_TAG not in run.tags:
            return super().terminate(run_id)
        if run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        if not on_this_machine(run):
            self._instance.report_engine_event(f"Unable to reach run worker {run.tags[WORKER_TAG]} from "
                                               f"{socket.gethostname()}.", run, cls=type(self))
            return False
        pid = live_worker(run)
        if pid is None:
            self._instance.report_run_canceled(run, "Run canceled: its run worker had already exited.")
            return False
        os.kill(pid, signal.SIGINT)
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        if WORKER_TAG not in run.tags:
            # started through the code server, which watches its own workers (DefaultRunLauncher has no check)
            return CheckRunHealthResult(WorkerStatus.RUNNING, "run worker of the code server")
        if not on_this_machine(run):  # the daemon on its machine watches it; any other status fails the run
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker {run.tags[WORKER_TAG]} runs elsewhere")
        if live_worker(run) is None:
            return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker {run.tags[WORKER_TAG]} is gone")
        return CheckRunHealthResult(WorkerStatus.RUNNING)

    def _warm_context(self, run: DagsterRun):
        """The forkserver context that starts this run, or None when it must start cold (logged once)."""
        origin = run.job_code_origin
        if origin is not None and origin.repository_origin.executable_path != sys.executable:
            log.warning("run %s starts cold: its code location runs %s, the daemon %s", run.run_id,
                        origin.repository_origin.executable_path, sys.executable)
            return None
        with self._lock:
            if self._context is None and self._cold_reason is None:
                if "forkserver" in multiprocessing.get_all_start_methods():
                    self._context = multiprocessing.get_context("forkserver")
                    self._context.set_forkserver_preload(list(PRELOAD))
                else:
                    self._go_cold("this platform has no forkserver")
            return self._context

    def _go_cold(self, reason: str) -> None:
        if self._cold_reason is None:
            log.warning("runs start cold, through the code server (Dagster's DefaultRunLauncher): %s", reason)
        self._cold_reason, self._context = reason, None

    def _watch(self, run_id: str, process) -> None:
        """Wait for the worker's end; fail its run if it ended without finishing it, as the code server does."""
        process.join()
        exit_code = process.exitcode
        process.close()
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return
        self._instance.report_engine_event(
            get_run_crash_explanation(prefix=f"Run execution process for {run_id}", exit_code=exit_code), run,
            cls=type(self))
        self._instance.report_run_failed(run)


def _run_worker(run_id: str, serialized_instance_ref: str) -> None:
    """The run, executed in the forked child exactly as `dagster api execute_run` executes it."""
    # What the warm server imported lives as long as the process: the garbage collector's full passes over the run's
    # own objects then skip its 340,000 objects (0.18 s to 0.02 s a pass, measured after the code location loaded)
    gc.freeze()
    from dagster._cli.api import _execute_run_command_body
    from dagster._core.instance.ref import InstanceRef
    from dagster._utils.interrupts import capture_interrupts

    with capture_interrupts(), DagsterInstance.from_ref(
            deserialize_value(serialized_instance_ref, InstanceRef)) as instance:
        _execute_run_command_body(run_id, instance, lambda _event: None, set_exit_code_on_failure=False)


def worker_identity(pid: int) -> dict[str, int | str | None]:
    """The machine, the pid and its start time (clock ticks after boot, from /proc; None elsewhere): a pid the
    kernel gave to another process since is not the worker."""
    return {"host": socket.gethostname(), "pid": pid, "start": _start_ticks(pid)}


def on_this_machine(run: DagsterRun) -> bool:
    return json.loads(run.tags[WORKER_TAG]).get("host") in (None, socket.gethostname())


def live_worker(run: DagsterRun) -> int | None:
    """The pid of the run's worker if that process still runs (not a zombie, not a pid reused since)."""
    identity = json.loads(run.tags[WORKER_TAG])
    pid = identity["pid"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    start = _start_ticks(pid)
    if start is not None and (start != identity["start"] or _state(pid) == "Z"):
        return None
    return pid


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def _state(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[0] if fields else None
