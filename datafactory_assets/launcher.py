"""Starts the platform in one mode (modes.py): the Dagster instance, the emulator (offline), then webserver and daemon,
their output into rotating log files and what needs a person onto the terminal."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from datafactory_assets import modes
from datafactory_assets.instance.environment import dagster_environment
from datafactory_assets.instance.profiles import DEFAULT_PROFILE, check_environment, write_instance_config
from datafactory_assets.logfiles import log_dir, tee_lines
from datafactory_assets.modes import Mode
from datafactory_assets.progress import report_history
from datafactory_assets.settings import REPO_ROOT
from datafactory_assets.terminal import SigintSeen, TerminalFilter


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def start_emulator(host: str = "127.0.0.1", log_dir: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Run the exchange emulator in its own process and return it with its URL once it listens; with `log_dir`, the
    rest of its output goes to the rotating `emulator.log` there."""
    port = free_port(host)
    proc = subprocess.Popen(
        [sys.executable, "-m", "datafactory_assets.cli", "emulator", "--host", host, "--port", str(port)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},  # lines as they come
    )
    line = proc.stdout.readline()
    if "listening" not in line:
        proc.kill()
        raise RuntimeError(f"the exchange emulator did not start: {line!r}")
    if log_dir is not None:
        tee_lines(proc.stdout, log_dir / "emulator.log")
    return proc, f"http://{host}:{port}"


def wait_interruptibly(process: subprocess.Popen) -> int:
    """`process.wait()` that lets Ctrl-C through at once. A plain wait blocks the main thread in waitpid, and the
    kernel may hand the terminal's SIGINT to one of the log threads instead, so Python raised KeyboardInterrupt only
    once `dagster dev` had exited: by then the interrupted runs' stack traces were on the terminal. A wait with a
    timeout polls (every 50 ms at most), and Python runs the pending handler between polls."""
    while True:
        try:
            return process.wait(timeout=3600)
        except subprocess.TimeoutExpired:
            continue


def run_platform(*, mode: Mode, host: str, port: int, dagster_home: Path, profile: str = DEFAULT_PROFILE) -> int:
    """Run `dagster dev` (webserver + daemon) until interrupted, in `mode`'s home, warehouse and code location;
    offline points every source at the emulator. `profile` picks the instance config (instance/profiles.py)."""
    modes.check_profile(mode, profile)
    check_environment(profile, os.environ)
    warehouse = modes.warehouse(mode, os.environ)
    note = modes.claim_home(dagster_home, mode)
    write_instance_config(dagster_home, profile)
    print(f"{mode.name} platform, instance profile {profile}: {dagster_home / 'dagster.yaml'}; warehouse {warehouse}; "
          f"logs in {log_dir(dagster_home)}")
    if note:
        print(note)
    # DAGSTER_DISABLE_TELEMETRY stops the webserver's and daemon's telemetry upload thread, which runs even with
    # telemetry disabled in dagster.yaml (see logfiles.py); Dagster 1.13 reads it in core/telemetry_upload.py.
    # PYTHONUNBUFFERED: every process below writes into a pipe, where Python buffers 8 KiB at a time; a run worker's
    # lines then reached the log files late, or never when it ended without flushing.
    env = {**dagster_environment(os.environ), "DAGSTER_HOME": str(dagster_home), modes.WAREHOUSE_ENV: str(warehouse),
           "DAGSTER_DISABLE_TELEMETRY": "1", "PYTHONUNBUFFERED": "1"}
    emulator = None
    if mode.offline:
        emulator, url = start_emulator(log_dir=log_dir(dagster_home))
        env["DATAFACTORY_EMULATOR_URL"] = url
        print(f"offline mode: sources point at the exchange emulator {url}; code location {mode.location}")
    dagster = shutil.which("dagster", path=str(Path(sys.executable).parent)) or "dagster"
    platform = subprocess.Popen([dagster, "dev", "-w", str(mode.workspace), "-h", host, "-p", str(port)],
                                env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    interrupted = SigintSeen()
    show = TerminalFilter(interrupted)
    output = tee_lines(platform.stdout, log_dir(dagster_home) / "dagster.log", echo=sys.stdout, show=show)
    history = report_history(env, out=sys.stdout)
    try:
        return wait_interruptibly(platform)
    except KeyboardInterrupt:  # the terminal sent it to dagster dev too; let it shut down and log that
        show.stop_showing()
        print(f"stopping: runs in progress are interrupted (they show as failed; healing asks for their hours "
              f"again); the shutdown is logged in {log_dir(dagster_home) / 'dagster.log'}", flush=True)
        platform.wait()
        print("platform stopped", flush=True)
        return 0
    finally:
        history.set()
        if emulator is not None:
            emulator.terminate()
            emulator.wait(timeout=10)
        output.join(timeout=10)
        interrupted.close()
