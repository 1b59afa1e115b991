"""Circuit breakers per source (pybreaker), with their state in the shared SQLite file.

A breaker opens after `fail_max` consecutive failed calls (a call is one request with its retries), lets one probe
through after `reset_timeout`, and closes on success. A ban (418, 451) opens it at once until the ban ends.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pybreaker

from datafactory_assets.resilience.state import connect_state


class SQLiteBreakerStorage(pybreaker.CircuitBreakerStorage):
    """pybreaker's storage interface over one row of the `breakers` table; counters update atomically in SQL."""

    def __init__(self, conn: sqlite3.Connection, name: str):
        super().__init__(name)
        self._conn = conn
        self._name = name
        conn.execute("INSERT OR IGNORE INTO breakers (name) VALUES (?)", [name])

    def _get(self, column: str):
        return self._conn.execute(f"SELECT {column} FROM breakers WHERE name = ?", [self._name]).fetchone()[0]

    def _set(self, assignment: str, *values) -> None:
        self._conn.execute(f"UPDATE breakers SET {assignment} WHERE name = ?", [*values, self._name])

    @property
    def state(self) -> str:
        return self._get("state")

    @state.setter
    def state(self, state: str) -> None:
        self._set("state = ?", state)

    def increment_counter(self) -> None:
        self._set("counter = counter + 1")

    def reset_counter(self) -> None:
        # pybreaker resets on every success; reading first spares a SQLite write per request in the usual case
        if self.counter:
            self._set("counter = 0")

    def increment_success_counter(self) -> None:
        self._set("success_counter = success_counter + 1")

    def reset_success_counter(self) -> None:
        if self.success_counter:
            self._set("success_counter = 0")

    @property
    def counter(self) -> int:
        return self._get("counter")

    @property
    def success_counter(self) -> int:
        return self._get("success_counter")

    @property
    def opened_at(self) -> datetime | None:
        value = self._get("opened_at")
        return None if value is None else datetime.fromtimestamp(value, UTC)

    @opened_at.setter
    def opened_at(self, moment: datetime) -> None:
        self._set("opened_at = ?", moment.timestamp())


class SourceBreaker:
    """The breaker of one source plus its ban, as the failover chain and `datafactory health` see them."""

    def __init__(self, *, path: str | Path, source: str, fail_max: int, reset_timeout_s: float,
                 excluded: tuple = ()):
        self.source = source
        self._conn = connect_state(path)
        self._storage = SQLiteBreakerStorage(self._conn, source)
        self.breaker = pybreaker.CircuitBreaker(fail_max=fail_max, reset_timeout=reset_timeout_s, exclude=excluded,
                                                state_storage=self._storage, name=source,
                                                throw_new_error_on_trip=False)

    def blocked_until(self) -> float | None:
        """Epoch seconds until which the source must not be asked, or None when it may be."""
        banned = self._storage._get("banned_until")
        if banned and banned > time.time():
            return banned
        opened = self._storage.opened_at
        if self.breaker.current_state == pybreaker.STATE_OPEN and opened is not None:
            until = opened.timestamp() + self.breaker.reset_timeout
            return until if until > time.time() else None
        return None

    def ban(self, seconds: float, reason: str) -> None:
        """Stop asking the source for `seconds` (418 / 451 answers), whatever the failure count."""
        self._storage._set("banned_until = ?, last_error = ?", time.time() + seconds, reason)
        self.breaker.open()

    def record_error(self, reason: str) -> None:
        self._storage._set("last_error = ?", reason)

    def call(self, fn):
        """Run `fn` through the breaker; raises `pybreaker.CircuitBreakerError` when it is open."""
        return self.breaker.call(fn)
