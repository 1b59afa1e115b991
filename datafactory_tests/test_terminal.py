"""The terminal of `datafactory up` shows what needs a person; lines as `dagster dev` printed them in an offline fill
(colour codes included)."""

import signal
import threading

from datafactory_assets.terminal import SigintSeen, TerminalFilter

C, B, R, E = "\x1b[32m", "\x1b[34m", "\x1b[31m", "\x1b[0m"
OUTPUT = [
    ("instance profile embedded: /tmp/home/dagster.yaml", True),
    ("/tmp/newuser/.venv/lib/python3.11/site-packages/click/core.py:911: SupersessionWarning: Function `dev_command` "
     "is superseded and its usage is discouraged. Use 'dg dev' instead.", False),
    ("  return callback(*args, **kwargs)", False),
    (f"{C}2026-12-05 18:23:38 +0000{E} - dagster - {B}INFO{E} - Launching Dagster services...", False),
    (f"{C}2026-12-05 18:23:42 +0000{E} - dagster.daemon.SensorDaemon - {B}INFO{E} - Creating new run for "
     "candles_healing", False),
    (f"{C}2026-12-05 18:23:42 +0000{E} - dagster-webserver - {B}INFO{E} - Serving dagster-webserver on "
     "http://127.0.0.1:3517 in process 1580", True),
    ("2026-12-05 18:23:50 +0000 - dagster - DEBUG - __ASSET_JOB - 1e026bb8 - 1866 - candles__ada_usdt - "
     "ASSET_MATERIALIZATION - Materialized value candles ada_usdt.", False),
    (f"{C}2026-12-05 18:24:18 +0000{E} - dagster - {B}WARNING{E} - Asset candles/ada_usdt has 3210 updated "
     "partitions, exceeding the maximum of 100 for per-partition timestamp fetching. Using tick timestamp as "
     "fallback.", False),
    (f"{C}2026-12-05 18:24:24 +0000{E} - dagster.daemon.AssetDaemon - {B}INFO{E} - Requested 8 assets:", False),
    ("- rollups/1h/ada_usdt: {3210 partitions: 2026-07-25-00:00 -> 2026-12-05-17:00}", False),
    (f"{C}2026-12-05 18:27:40 +0000{E} - dagster.daemon.QueuedRunCoordinatorDaemon - {B}ERROR{E} - "
     f"{R}Caught an error dequeuing run 8b0b7443{E}", True),
    ("dagster._core.errors.DagsterLaunchFailedError: GRPC server: Subprocess for 8b0b7443 terminated unexpectedly",
     True),
    ("2026-12-05 18:27:41 +0000 - dagster - ERROR - __ASSET_JOB - 1217b9d1 - 15578 - RUN_FAILURE - Execution of "
     'run for "__ASSET_JOB" failed.', True),
    ("2026-12-05 18:27:42 +0000 - dagster - WARNING - __ASSET_JOB - 1217b9d1 - candles__btc_usdt - accuracy: "
     "reference unavailable", True),
    ("2026-12-05 18:27:43 +0000 - dagster - INFO - __ASSET_JOB - 1217b9d1 - candles__btc_usdt - stored 60 candles",
     False),
]


def test_start_up_lines_the_url_warnings_and_failures_are_shown_the_chatter_is_not():
    show = TerminalFilter()
    assert [(line, show(line)) for line, _ in OUTPUT] == OUTPUT


def test_a_quiet_python_warning_hides_only_its_own_source_line():
    show = TerminalFilter()
    lines = ["core.py:911: SupersessionWarning: Function `dev_command` is superseded and its usage is discouraged.",
             "  return callback(*args, **kwargs)", "Traceback (most recent call last):", '  File "x.py", line 1']
    assert [show(line) for line in lines] == [False, False, True, True]


def test_after_ctrl_c_nothing_more_is_shown():
    """The runs Ctrl-C interrupted fail with stack traces, and the daemon cannot launch what was queued: all of that
    is the shutdown the person asked for, kept in the log file."""
    show = TerminalFilter()
    assert show(OUTPUT[-3][0])  # a run failure is shown while the platform runs
    show.stop_showing()
    assert [show(line) for line, _ in OUTPUT] == [False] * len(OUTPUT)


def test_a_log_thread_stops_showing_as_soon_as_ctrl_c_arrives_before_the_main_thread_handles_it():
    """The run workers print their interrupted runs' stack traces the moment the terminal's SIGINT reaches them; the
    log thread must know of it then, not once the main thread gets to raise KeyboardInterrupt."""
    previous = signal.signal(signal.SIGINT, lambda *_: None)  # the main thread's Python handler: here, nothing
    interrupted = SigintSeen()
    show = TerminalFilter(interrupted)
    shown: list[bool] = []

    def log_thread() -> None:
        shown.append(show(OUTPUT[-3][0]))  # a run failure while the platform runs
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # the kernel may hand it to any thread: here, this
        shown.append(show(OUTPUT[-3][0]))  # an interrupted run's failure, printed before the main thread ran

    try:
        thread = threading.Thread(target=log_thread)
        thread.start()
        thread.join()
    finally:
        interrupted.close()
        signal.signal(signal.SIGINT, previous)
    assert shown == [True, False]
