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
since two holds of one thread would wait on each other forever. A waiter sleeps in the kernel until the lock is
released (`_Waiter`), so hundreds of hand-overs a fill cost no polling.
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
            fd = _acquire(fd, shared=shared, timeout_s=timeout_s, path=database)
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


def _acquire(fd: int, *, shared: bool, timeout_s: float, path: Path) -> int:
    """Our lock on the lock file: at once if it is free, else through `_Waiter` (a zero timeout tries once); the
    descriptor that holds it (`fd`, or the waiter's own copy), which the caller closes to release it.
    `WarehouseLockedError` after `timeout_s`."""
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
        return fd
    except BlockingIOError as exc:
        held = _Waiter(os.dup(fd), mode=mode).wait(timeout_s) if timeout_s > 0 else None
        if held is None:
            raise _locked_error(path, timeout_s=timeout_s, exc=exc) from exc
        os.close(fd)
        return held


class _Waiter:
    """A blocking flock in a thread of its own, so a waiter sleeps in the kernel and gets the lock the moment it is
    released: polling (as tenacity did, every 10 ms at most) cost CPU in every waiter and left the lock free for up to
    a poll at each of a fill's hundreds of hand-overs. flock has no timeout, so the caller waits for the thread, not in
    it.

    The thread owns its descriptor (a `dup` of the caller's: the same open file, whose lock the kernel grants it
    alone) until it hands it over, so the caller never closes a descriptor the thread is blocked on, whose number
    another open could reuse meanwhile. A caller that gave up (its timeout, or an exception such as a signal's)
    leaves the thread blocked; when it gets the lock it closes its descriptor, releasing the lock at once, so a
    timed-out waiter neither holds the lock nor leaks it. Such a thread lives until the holder lets go."""

    def __init__(self, fd: int, *, mode: int):
        self._fd, self._mode = fd, mode
        self._settled = threading.Lock()  # orders the hand-over against giving up
        self._done = threading.Event()
        self._outcome: int | OSError | None = None  # the descriptor holding the lock, or what flock raised
        self._abandoned = False
        threading.Thread(target=self._lock, name="warehouse-lock-waiter", daemon=True).start()

    def wait(self, timeout_s: float) -> int | None:
        """The descriptor holding the lock, or None when `timeout_s` passed first (the thread then releases it)."""
        try:
            self._done.wait(min(timeout_s, threading.TIMEOUT_MAX))
        except BaseException:
            if isinstance(held := self._settle(), int):
                os.close(held)
            raise
        if isinstance(held := self._settle(), OSError):
            raise held
        return held

    def _settle(self) -> int | OSError | None:
        """What the thread got, or None after telling it that nobody takes the lock any more."""
        with self._settled:
            self._abandoned = self._outcome is None
            return self._outcome

    def _lock(self) -> None:
        outcome: int | OSError
        try:
            fcntl.flock(self._fd, self._mode)
            outcome = self._fd
        except OSError as exc:  # handed to the caller, who raises it
            outcome = exc
        with self._settled:
            if self._abandoned or isinstance(outcome, OSError):
                os.close(self._fd)  # releases the lock, if got, that nobody waits for any more
            if not self._abandoned:
                self._outcome = outcome
        self._done.set()


def _locked_error(path: Path, *, timeout_s: float, exc: BaseException) -> WarehouseLockedError:
    return WarehouseLockedError(f"warehouse {path} stayed locked by another process for {timeout_s:.0f}s "
                                f"({' '.join(str(exc).split())}): try again when it has finished")


def wait_while_locked(attempt: Callable[[], T], *, locked: Callable[[BaseException], bool], timeout_s: float,
                      path: Path) -> T:
    """`attempt()`, tried again with jittered back-off (up to a quarter of a second between tries) while it fails
    because another process holds `path` (DuckDB's own lock: a bare `duckdb` shell, which takes no lock of ours to
    wait on); `WarehouseLockedError` once `timeout_s` have passed."""
    try:
        return retry(
            retry=retry_if_exception(locked),
            wait=wait_random_exponential(multiplier=0.005, max=0.25),
            stop=stop_after_delay(timeout_s),
            reraise=True,
        )(attempt)()
    except Exception as exc:
        if locked(exc):
            raise _locked_error(path, timeout_s=timeout_s, exc=exc) from exc
        raise
