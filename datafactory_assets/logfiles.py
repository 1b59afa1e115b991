"""Log files that rotate by size and keep a bounded number of backups, so a platform left running for months keeps
at most (backups + 1) x max_bytes of each log.

`datafactory up` pipes the output of `dagster dev` (webserver, daemon, run workers and the Python logging of our
modules inside them) and of the exchange emulator through `tee_lines` into `DAGSTER_HOME/platform-logs/`, not
`DAGSTER_HOME/logs/`: that one is Dagster's telemetry queue. Dagster's webserver and daemon move it to `.logs_queue/`,
post every file in it to telemetry.dagster.io and delete them, whatever `telemetry.enabled` says
(dagster/_core/telemetry_upload.py in 1.13), so our files vanished there while still held open. What Dagster itself
keeps per run (compute logs, event logs) is Dagster's to manage: its local compute log manager has no retention
setting in 1.13.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import IO, TextIO

MAX_BYTES = 10 * 2**20
BACKUPS = 5
LOG_DIR = "platform-logs"


def log_dir(dagster_home: Path) -> Path:
    """Where `datafactory up` keeps the platform's and the emulator's logs."""
    return dagster_home / LOG_DIR


def rotating_logger(path: Path, *, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> logging.Logger:
    """A logger writing bare lines to `path`, rotated to `path.1` ... `path.<backups>` past `max_bytes`."""
    if max_bytes <= 0 or backups <= 0:
        raise ValueError(f"log rotation needs a positive size and backup count, got {max_bytes} bytes x {backups}")
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(f"datafactory.logfile.{path.resolve()}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    for old in list(logger.handlers):
        logger.removeHandler(old)
        old.close()
    handler = RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    return logger


def tee_lines(stream: IO[str], path: Path, *, echo: TextIO | None = None, show: Callable[[str], bool] | None = None,
              max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> threading.Thread:
    """Copy every line of a child process's output into the rotating log at `path` (and to `echo`, such as the
    terminal, those lines `show` accepts, every one without it) until the stream ends, on a daemon thread; join it
    to wait for the last line."""
    logger = rotating_logger(path, max_bytes=max_bytes, backups=backups)

    def pump() -> None:
        try:
            for line in stream:
                logger.info(line.rstrip("\n"))
                if echo is not None and (show is None or show(line)):
                    echo.write(line)
                    echo.flush()
        finally:
            for handler in logger.handlers:
                handler.close()

    thread = threading.Thread(target=pump, name=f"log {path.name}", daemon=True)
    thread.start()
    return thread
