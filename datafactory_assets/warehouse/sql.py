"""Small DuckDB helpers the warehouse modules share: one transaction, a path as an SQL string literal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN; COMMIT when the block ends, ROLLBACK (and re-raise) when it raises."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def sql_string(path: Path) -> str:
    """`path` as a quoted SQL literal, for the statements that take no parameters there (COPY TO, ATTACH)."""
    return "'" + str(path).replace("'", "''") + "'"
