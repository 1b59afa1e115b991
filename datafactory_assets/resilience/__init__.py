"""Resilience between the platform and its sources: shared budgets, retry with backoff and jitter, circuit breakers
and bans kept where every run process sees them, and the failover chain."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl

from datafactory_assets.resilience.state import connect_state


def breaker_states(path: str | Path) -> pl.DataFrame:
    """Every source's breaker as stored in the shared state file: state, consecutive failures, blocked until."""
    schema = {"source": pl.String(), "breaker": pl.String(), "failures": pl.Int64(), "blocked_for_s": pl.Int64(),
              "last_failure": pl.String()}
    if not Path(path).exists():
        return pl.DataFrame(schema=schema)
    conn = connect_state(path)
    try:
        rows = conn.execute("SELECT name, state, counter, banned_until, last_error FROM breakers").fetchall()
    finally:
        conn.close()
    now = time.time()
    return pl.DataFrame(
        [(name, state, counter, int(banned - now) if banned and banned > now else 0, last)
         for name, state, counter, banned, last in rows],
        schema=schema, orient="row",
    ).sort("source")
