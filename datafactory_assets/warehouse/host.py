"""One DuckDB database instance per process and warehouse, the file attached to it only for each session.

`duckdb.connect(file)` starts a database instance for every session: registering DuckDB's built-in functions into
its system catalog cost 13 CPU-ms even for `:memory:`, and tearing them down again a few more at close, a third of a
run step's whole warehouse session (`bench/warehouse_session.py`). An in-memory instance kept for the process pays
that once; each session attaches the file (`ATTACH`, DuckDB's open: its own file lock, the headers, the catalog) and
detaches it at its end (`DETACH`, DuckDB's close: the checkpoint, the lock released, the file closed). Opening and
closing the file stay where they were, inside our file lock's hold, so the lock keeps its meaning.

A file can be attached once per instance: sessions of one process that overlap on the same file (a nested
connection, or readers in two threads, which our file lock lets in together) share the attachment, each with a
connection of its own (settings such as `file_search_path` are per connection), and the last one out detaches it.
Each warehouse file has its own instance, attached under one name; an idle one of another file is closed when a new
one is made (a process normally uses one warehouse). A forked child never touches its parent's instances,
whose threads it does not have; nor is an instance reused after a failed session (a fatal error invalidates it).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path

import duckdb

from datafactory_assets.warehouse.file_lock import wait_while_locked
from datafactory_assets.warehouse.sql import sql_string

ALIAS = "warehouse"  # the attached file's database name; `current_database()` in every session


class _Host:
    """An in-memory instance and the sessions using its attachment of one warehouse file."""

    def __init__(self, path: Path):
        self.path, self.pid = path, os.getpid()
        self.conn = duckdb.connect(":memory:")
        self.conn.execute("SET enable_progress_bar = false")  # an ATTACH waiting on a slow disk would draw one
        self.users = 0

    def attach(self, *, read_only: bool) -> None:
        """Attach the file for a first session (raises DuckDB's error when a process outside ours holds it)."""
        mode = " (READ_ONLY)" if read_only else ""
        self.conn.execute(f"ATTACH {sql_string(self.path)} AS {ALIAS}{mode}")

    def detach(self) -> None:
        self.conn.execute(f"DETACH {ALIAS}")


_hosts: dict[Path, _Host] = {}
_forked: list[_Host] = []  # a parent's instances, kept from their destructor (it would join threads not here)
_guard = threading.Lock()  # the hosts, their attachments and their connections' cursor()


@contextmanager
def attached(path: Path, *, read_only: bool, lock_timeout_s: float) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse file at `path`, attached for the block, read-write unless `read_only` (a session
    nested in a writer's shares the writer's attachment); the caller holds our file lock. DuckDB's own lock, held by
    a process outside ours (a bare `duckdb` shell), is waited for up to `lock_timeout_s`."""
    path = path.resolve()
    host = wait_while_locked(partial(_enter, path, read_only=read_only),
                             locked=_is_lock_error, timeout_s=lock_timeout_s, path=path)
    failed = True
    try:
        with _guard:
            conn = host.conn.cursor()
        try:
            conn.execute(f"USE {ALIAS}")
            yield conn
            failed = False
        finally:
            conn.close()
    finally:
        with _guard:
            _leave(host, failed=failed)


def _is_lock_error(exc: BaseException) -> bool:
    """DuckDB's own lock, held by a process outside ours (a bare `duckdb` shell)."""
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def _enter(path: Path, *, read_only: bool) -> _Host:
    with _guard:
        host = _host(path)
        if host.users == 0:
            host.attach(read_only=read_only)
        host.users += 1
        return host


def _host(path: Path) -> _Host:
    """This process's instance for `path`, made when there is none (closing other warehouses' idle ones)."""
    if any(host.pid != os.getpid() for host in _hosts.values()):
        _forked.extend(_hosts.values())
        _hosts.clear()
    if path not in _hosts:
        for other in [other for other in _hosts.values() if other.users == 0]:
            _drop(other)
        _hosts[path] = _Host(path)
    return _hosts[path]


def _leave(host: _Host, *, failed: bool) -> None:
    """Detach the file after its last session. After a session that failed the instance is dropped instead (closing
    it closes the file, as a connection's close did), since a fatal error may have invalidated it, and the next
    session starts a new one; so is it when the DETACH fails."""
    host.users -= 1
    if host.users:
        return
    if failed:
        _drop(host)
        return
    try:
        host.detach()
    except duckdb.Error:
        _drop(host)
        raise


def _drop(host: _Host) -> None:
    del _hosts[host.path]
    with suppress(duckdb.Error):
        host.conn.close()
