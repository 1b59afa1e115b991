"""A lock beside the warehouse file, held from before DuckDB opens the file until after it has closed it.

DuckDB's own lock is not enough: DuckDB 2.0 reads the file's headers before it takes its lock, so a process that
opens the file just as another closes it can start from the headers the other's final checkpoint replaced. Its
writes then silently undo the other's committed ones, or it reads blocks past the end of the shrunken file
("Could not read enough bytes from file"). Taking this lock first makes opening and closing one step for every
process of ours: writers alone, readers together.

Readers work on a read-only volume or directory: a shared hold opens an existing lock file read-only (flock needs
no write access), and where there is no lock file and none can be created, it reads without one. That is safe
because the lock file is never removed: every process of ours that ever opened the file to write created it first,
so its absence means no writer of ours has used the file, and none can start where the lock file cannot be created.
The worst a writer from elsewhere (a bare `duckdb` shell) can do to such a reader is make its read fail; writing
needs the directory. A writer there gets `WarehouseReadOnlyError`, one line saying so.

Re-entrant within one thread (a nested connection in the same mode, or any inside a writer's, shares the hold),
since two holds of one thread would wait on each other forever.
"""

from __future__ import annotations

import errno
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


class WarehouseReadOnlyError(PermissionError):
    """A writer asked for a warehouse in a directory it cannot write."""


_held = threading.local()
_FLOCK_POLL_S = 0.01  # the longest a waiter for our lock sleeps between two tries


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
    fd = _open(database, shared=shared)
    try:
        if fd is not None:
            _acquire(fd, shared=shared, timeout_s=timeout_s, path=database)
        holds[key] = shared
        try:
            yield
        finally:
            del holds[key]
    finally:
        if fd is not None:
            os.close(fd)  # releases the lock


def _open(database: Path, *, shared: bool) -> int | None:
    """The lock file's descriptor; None for a reader where there is none and none can be made (see above)."""
    path = lock_path(database)
    if shared:
        try:
            return os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            pass
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        if shared:
            return None
        raise WarehouseReadOnlyError(
            exc.errno, f"warehouse {database} is in a directory this process cannot write ({exc.strerror}): only "
            "reading commands (status, gaps, health, export, doctor without --fix) work there") from exc


def _acquire(fd: int, *, shared: bool, timeout_s: float, path: Path) -> None:
    """Our lock, polled at most `_FLOCK_POLL_S` apart: a writer holds it for about a tenth of a second (open, upsert,
    read-back, checkpoint), so a waiter backing off to a quarter of a second (as it did) left it free for most of its
    sleep while every run's next write queued behind; a poll is one system call."""
    mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
    wait_while_locked(lambda: fcntl.flock(fd, mode), locked=lambda exc: isinstance(exc, BlockingIOError),
                      timeout_s=timeout_s, path=path, max_sleep_s=_FLOCK_POLL_S)


def wait_while_locked(attempt: Callable[[], T], *, locked: Callable[[BaseException], bool], timeout_s: float,
                      path: Path, max_sleep_s: float = 0.25) -> T:
    """`attempt()`, tried again with jittered back-off (up to `max_sleep_s` between tries) while it fails because
    another process holds `path`; `WarehouseLockedError` once `timeout_s` have passed."""
    try:
        return retry(
            retry=retry_if_exception(locked),
            wait=wait_random_exponential(multiplier=0.005, max=max_sleep_s),
            stop=stop_after_delay(timeout_s),
            reraise=True,
        )(attempt)()
    except Exception as exc:
        if locked(exc):
            raise WarehouseLockedError(
                f"warehouse {path} stayed locked by another process for {timeout_s:.0f}s "
                f"({' '.join(str(exc).split())}): try again when it has finished") from exc
        raise
