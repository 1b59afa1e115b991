"""Pairs that no source of their chain lists: what the failed runs found, kept for `datafactory doctor`.

A mistyped or delisted symbol fails every run (`chain.PairNotListedError`); the verdict, with each source's answer,
is kept in `unlisted_pairs` so that `doctor` reports it without asking a venue. The next window served for the
symbol forgets it.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

import duckdb


def record_unlisted(conn: duckdb.DuckDBPyConnection, symbol: str, *, answers: str, run_id: str | None) -> None:
    """Keep the latest run's verdict that no source lists `symbol`."""
    conn.execute("INSERT OR REPLACE INTO unlisted_pairs VALUES (?, ?, ?, ?)",
                 [symbol, answers, run_id, datetime.now(UTC).replace(tzinfo=None)])


def forget_unlisted(conn: duckdb.DuckDBPyConnection, symbol: str) -> None:
    """A source served the symbol: it is listed after all."""
    conn.execute("DELETE FROM unlisted_pairs WHERE symbol = ?", [symbol])


def unlisted_pairs(conn: duckdb.DuckDBPyConnection, symbols: Collection[str]) -> list[str]:
    """One line per symbol of `symbols` (the configured ones: a symbol since removed is no longer a problem) whose
    latest run found no source listing it, naming the sources' answers and what to do; by symbol."""
    rows = conn.execute("SELECT symbol, answers, found_at FROM unlisted_pairs WHERE symbol IN (SELECT unnest(?)) "
                        "ORDER BY symbol", [list(symbols)]).fetchall()
    return [f"{symbol}: not listed by any source of its chain (run at {found_at:%Y-%m-%d %H:%M} UTC: {answers}); "
            "fix the symbol in the configuration or remove it" for symbol, answers, found_at in rows]
