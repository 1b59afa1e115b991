"""What has been told about which failing condition, so alerts neither storm nor go missing.

An alert is keyed (condition, subject, partition). A key opens when its condition fails and closes when it passes
again. An open key sends at most one alert per `repeat_interval_s`; occurrences in between are counted and reported
with the next alert ("and N more"). A recovery message follows the close of a key whose alert was sent, and only
then, so nobody is told "recovered" about something they never heard of.

The ledger is a small SQLite file beside the resilience state file rather than a sensor cursor: several sensors
(runs, checks, breakers) share it, it may hold thousands of keys after a bad backfill, and it survives daemon
restarts and cursor resets, so a restarted daemon does not repeat alerts it already sent.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_keys (
    condition TEXT NOT NULL,
    subject TEXT NOT NULL,
    partition TEXT NOT NULL,
    open INTEGER NOT NULL,
    told INTEGER NOT NULL,      -- an alert was sent for the current episode
    pending INTEGER NOT NULL,   -- occurrences not yet reported
    reason TEXT NOT NULL,
    opened_at REAL NOT NULL,
    last_sent REAL,
    PRIMARY KEY (condition, subject, partition)
);
CREATE INDEX IF NOT EXISTS alert_keys_pending ON alert_keys (open, pending);
"""


@dataclass(frozen=True)
class Observation:
    """One look at a condition: failing or passing, for an asset / job / source and, where it has one, a partition."""

    condition: str
    subject: str
    partition: str
    failing: bool
    reason: str

    @property
    def key(self) -> tuple[str, str, str]:
        return self.condition, self.subject, self.partition


@dataclass(frozen=True)
class Notice:
    """Something to tell: `alert` (with `more` occurrences grouped into it) or `recovery`."""

    kind: str
    observation: Observation
    more: int = 0


class AlertLedger:
    """Turns observations into notices under the grouping and rate-limit rules above; one transaction per batch."""

    def __init__(self, path: str | Path, *, repeat_interval_s: float):
        self.path = Path(path)
        self.repeat_interval_s = repeat_interval_s

    def record(self, observations: Iterable[Observation], *, now: float, polled: bool = False) -> list[Notice]:
        """Apply the observations in order, then release alerts that were held back and whose interval has passed.

        `polled` observations are states looked at again and again (a breaker): seeing a key still failing is not a
        new occurrence, so it is not counted into "and N more".
        """
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            notices = [n for obs in observations if (n := self._apply(conn, obs, now, polled)) is not None]
            notices += self._release_held(conn, now)
            conn.execute("COMMIT")
            return notices
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    def open_keys(self) -> list[tuple[str, str, str]]:
        """Keys whose condition is failing now (for tests and the curious operator)."""
        conn = self._connect()
        try:
            rows = conn.execute("SELECT condition, subject, partition FROM alert_keys WHERE open ORDER BY 1, 2, 3")
            return [tuple(r) for r in rows.fetchall()]
        finally:
            conn.close()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=30000")
        conn.executescript(_SCHEMA)
        return conn

    def _apply(self, conn: sqlite3.Connection, obs: Observation, now: float, polled: bool) -> Notice | None:
        row = conn.execute("SELECT open, told, pending, last_sent FROM alert_keys "
                           "WHERE condition = ? AND subject = ? AND partition = ?", obs.key).fetchone()
        if not obs.failing:
            if row is None or not row[0]:
                return None
            conn.execute("UPDATE alert_keys SET open = 0, told = 0, pending = 0, reason = ? "
                         "WHERE condition = ? AND subject = ? AND partition = ?", [obs.reason, *obs.key])
            return Notice("recovery", obs) if row[1] else None
        if row is None or not row[0]:
            conn.execute("INSERT OR REPLACE INTO alert_keys VALUES (?, ?, ?, 1, 0, 1, ?, ?, ?)",
                         [*obs.key, obs.reason, now, row[3] if row else None])
            pending, last_sent = 1, row[3] if row else None
        else:
            pending, last_sent = row[2] + (not polled), row[3]
            conn.execute("UPDATE alert_keys SET pending = ?, reason = ? "
                         "WHERE condition = ? AND subject = ? AND partition = ?", [pending, obs.reason, *obs.key])
        if not pending or (last_sent is not None and now - last_sent < self.repeat_interval_s):
            return None
        self._mark_sent(conn, obs.key, now)
        return Notice("alert", obs, more=pending - 1)

    def _release_held(self, conn: sqlite3.Connection, now: float) -> list[Notice]:
        held = conn.execute(
            "SELECT condition, subject, partition, pending, reason FROM alert_keys "
            "WHERE open AND pending > 0 AND last_sent <= ? ORDER BY opened_at", [now - self.repeat_interval_s],
        ).fetchall()
        notices = []
        for condition, subject, partition, pending, reason in held:
            obs = Observation(condition, subject, partition, failing=True, reason=reason)
            self._mark_sent(conn, obs.key, now)
            notices.append(Notice("alert", obs, more=pending - 1))
        return notices

    @staticmethod
    def _mark_sent(conn: sqlite3.Connection, key: tuple[str, str, str], now: float) -> None:
        conn.execute("UPDATE alert_keys SET told = 1, pending = 0, last_sent = ? "
                     "WHERE condition = ? AND subject = ? AND partition = ?", [now, *key])
