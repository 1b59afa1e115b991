"""A dataset's tables, generated from its declaration, so that a new dataset's storage is its declaration and not a
hand-written copy of the candle DDL.

The rows table (`dataset.table`) holds the frame's columns, typed from the frame's Polars types (so frame and table
cannot disagree), plus `ingested_at`, when the write stored the row. The revisions table
(`dataset.revisions_table`) keeps each stored row a later write replaced: the keys, `old_` and `new_` of each value
column, the old row's source and ingested_at, the new source, the run and when. Every column is NOT NULL except
the ones the dataset declares `nullable` and the run id (writes outside a Dagster run have none). Neither table has
a PRIMARY KEY: see `schema` for why uniqueness is the write path's job.

The DDL is CREATE TABLE IF NOT EXISTS, so running it again creates what is missing and changes nothing else; a
nullable column a dataset gained since a file was created is added to its rows table (ALTER TABLE ... ADD COLUMN IF
NOT EXISTS), null in the rows stored before, so an old file upgrades without losing anything.
"""

from __future__ import annotations

import duckdb
import polars as pl

from datafactory_assets.datasets import Dataset

_TYPES = {pl.String(): "VARCHAR", pl.Datetime("us"): "TIMESTAMP", pl.Float64(): "DOUBLE", pl.Int64(): "BIGINT",
          pl.Int32(): "INTEGER", pl.Boolean(): "BOOLEAN"}


def stored_columns(dataset: Dataset) -> tuple[str, ...]:
    """The rows table's columns, in order: the frame's, then `ingested_at`."""
    return (*dataset.schema, "ingested_at")


def revision_columns(dataset: Dataset) -> tuple[str, ...]:
    """The revisions table's columns, in order."""
    return (*dataset.keys, *(f"old_{c}" for c in dataset.values), "old_source", "old_ingested_at",
            *(f"new_{c}" for c in dataset.values), "new_source", "run_id", "revised_at")


def table_ddl(dataset: Dataset) -> str:
    """CREATE TABLE IF NOT EXISTS for the dataset's rows."""
    return _create(dataset.table, {**{c: _column(dataset, c) for c in dataset.schema},
                                   "ingested_at": "TIMESTAMP NOT NULL"})


def revisions_ddl(dataset: Dataset) -> str:
    """CREATE TABLE IF NOT EXISTS for the dataset's replaced rows."""
    return _create(dataset.revisions_table, {
        **{c: _column(dataset, c) for c in dataset.keys},
        **{f"old_{c}": _column(dataset, c) for c in dataset.values},
        "old_source": _column(dataset, "source"), "old_ingested_at": "TIMESTAMP NOT NULL",
        **{f"new_{c}": _column(dataset, c) for c in dataset.values},
        "new_source": _column(dataset, "source"), "run_id": "VARCHAR", "revised_at": "TIMESTAMP NOT NULL",
    })


def ensure_tables(conn: duckdb.DuckDBPyConnection, dataset: Dataset) -> None:
    """Create the dataset's tables where the file lacks them, and its nullable columns where its rows table lacks
    them (`schema.ensure_schema`, for every registered dataset)."""
    conn.execute(table_ddl(dataset))
    conn.execute(revisions_ddl(dataset))
    for column in (c for c in dataset.schema if c in dataset.nullable):
        conn.execute(f"ALTER TABLE {dataset.table} ADD COLUMN IF NOT EXISTS {column} {_column(dataset, column)}")


def _column(dataset: Dataset, column: str) -> str:
    dtype = dataset.schema[column]
    try:
        sql_type = _TYPES[dtype]
    except KeyError:
        raise ValueError(f"dataset {dataset.name}: column {column} has the frame type {dtype}, which has no warehouse "
                         f"type (known: {', '.join(map(str, _TYPES))})") from None
    return sql_type if column in dataset.nullable else f"{sql_type} NOT NULL"


def _create(table: str, columns: dict[str, str]) -> str:
    body = ",\n    ".join(f"{name} {sql_type}" for name, sql_type in columns.items())
    return f"CREATE TABLE IF NOT EXISTS {table} (\n    {body}\n)"
