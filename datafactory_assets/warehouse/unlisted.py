"""Pairs that no source of their chain lists: what the failed runs found, kept for `datafactory doctor`.

A mistyped or delisted symbol fails every run (`chain.PairNotListedError`); the verdict, with each source's answer,
is kept in `unlisted_pairs` so that `doctor` reports it without asking a venue. Each verdict names the dataset
whose run found it (its chain said so), and the next window of that dataset served for the symbol forgets it. The
table keeps one verdict per symbol (its key since before datasets), the latest run's.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

import duckdb

from datafactory_assets.datasets import SPOT_CANDLES, Dataset


def record_unlisted(conn: duckdb.DuckDBPyConnection, symbol: str, *, answers: str, run_id: str | None,
                    dataset: Dataset = SPOT_CANDLES) -> None:
    """Keep the latest run's verdict that no source lists `symbol`, found by a run of `dataset`."""
    conn.execute("INSERT OR REPLACE INTO unlisted_pairs (symbol, answers, run_id, found_at, dataset) "
                 "VALUES (?, ?, ?, ?, ?)", [symbol, answers, run_id, datetime.now(UTC).replace(tzinfo=None),
                                            dataset.name])


def forget_unlisted(conn: duckdb.DuckDBPyConnection, symbol: str, *, dataset: Dataset = SPOT_CANDLES) -> None:
    """A source served the symbol's `dataset`: what a run of that dataset found is no longer true."""
    conn.execute("DELETE FROM unlisted_pairs WHERE symbol = ? AND dataset = ?", [symbol, dataset.name])


def unlisted_pairs(conn: duckdb.DuckDBPyConnection, symbols: Collection[str]) -> list[str]:
    """One line per symbol of `symbols` (the configured ones: a symbol since removed is no longer a problem) whose
    latest run found no source listing it, naming the sources' answers and what to do; by symbol."""
    rows = conn.execute("SELECT symbol, answers, found_at FROM unlisted_pairs WHERE symbol IN (SELECT unnest(?)) "
                        "ORDER BY symbol", [list(symbols)]).fetchall()
    return [f"{symbol}: not listed by any source of its chain (run at {found_at:%Y-%m-%d %H:%M} UTC: {answers}); "
            "fix the symbol in the configuration or remove it" for symbol, answers, found_at in rows]
