"""A lock beside the warehouse file, held from before DuckDB opens the file until after it has closed it.

DuckDB's own lock is not enough: DuckDB 2.0 reads the file's headers before it takes its lock, so a process that
opens the file just as another closes it can start from the headers the other's final checkpoint replaced. Its
writes then silently undo the other's committed ones, or it reads blocks past the end of the shrunken file
("Could not read enough bytes from file"). Taking this lock first makes opening and closing one step for every
process of ours: writers alone, readers together.

Re-entrant within one thread (a nested connection in the same mode, or any inside a writer's, shares the hold),
since two holds of one thread would wait on each other forever.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from tenacity import retry, retry_if_exception, stop_after_delay, wait_random_exponential

T = TypeVar("T")


class WarehouseLockedError(RuntimeError):
    """Another process held the warehouse for longer than we were willing to wait."""


_held = threading.local()


def lock_path(database: Path) -> Path:
    """The lock file of a database file: beside it, never renamed or rewritten with it."""
    return database.with_name(database.name + ".lock")


@contextmanager
def hold(database: Path, *, shared: bool, timeout_s: float) -> Iterator[None]:
    """Hold the database's lock, shared (readers) or exclusive (writers), for the duration of the block."""
    key = str(database.resolve())
    holds: dict[str, bool] = _held.__dict__.setdefault("holds", {})
    if key in holds:
        if shared or not holds[key]:
            yield
            return
        raise RuntimeError(f"{database}: asked to write while this thread holds a read-only connection; "
                           "close it first")
    fd = os.open(lock_path(database), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        _acquire(fd, shared=shared, timeout_s=timeout_s, path=database)
        holds[key] = shared
        try:
            yield
        finally:
            del holds[key]
    finally:
        os.close(fd)  # releases the lock


def _acquire(fd: int, *, shared: bool, timeout_s: float, path: Path) -> None:
    mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
    wait_while_locked(lambda: fcntl.flock(fd, mode), locked=lambda exc: isinstance(exc, BlockingIOError),
                      timeout_s=timeout_s, path=path)


def wait_while_locked(attempt: Callable[[], T], *, locked: Callable[[BaseException], bool], timeout_s: float,
                      path: Path) -> T:
    """`attempt()`, tried again with jittered back-off while it fails because another process holds `path`;
    `WarehouseLockedError` once `timeout_s` have passed."""
    try:
        return retry(
            retry=retry_if_exception(locked),
            wait=wait_random_exponential(multiplier=0.005, max=0.25),
            stop=stop_after_delay(timeout_s),
            reraise=True,
        )(attempt)()
    except Exception as exc:
        if locked(exc):
            raise WarehouseLockedError(
                f"warehouse {path} stayed locked by another process for {timeout_s:.0f}s: {exc}") from exc
        raise
