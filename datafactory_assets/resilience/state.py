"""The small SQLite file where resilience state lives, so every run process (each Dagster run is its own) sees the
same breakers, bans and rate budgets."""

from __future__ import annotations

import sqlite3
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS breakers (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL DEFAULT 'closed',
    counter INTEGER NOT NULL DEFAULT 0,
    success_counter INTEGER NOT NULL DEFAULT 0,
    opened_at REAL,
    banned_until REAL,
    last_error TEXT
);
"""


def connect_state(path: str | Path) -> sqlite3.Connection:
    """An autocommit connection that waits for other processes instead of failing on a busy file."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.executescript(_SCHEMA)
    return conn
