"""A dataset's tables come from its declaration: spot candles' generated tables are exactly the ones written by hand
before datasets existed, and a dataset with other columns gets its own."""

from dataclasses import replace

import duckdb
import polars as pl
import pytest

from datafactory_assets.datasets import SPOT_CANDLES
from datafactory_assets.warehouse.tables import ensure_tables, revision_columns, revisions_ddl, table_ddl

# The DDL of schema version 8, written by hand (warehouse/schema.py before datasets).
CANDLES_V8 = """CREATE TABLE candles (
    symbol VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL,
    open DOUBLE NOT NULL,
    high DOUBLE NOT NULL,
    low DOUBLE NOT NULL,
    close DOUBLE NOT NULL,
    volume DOUBLE NOT NULL,
    source VARCHAR NOT NULL,
    ingested_at TIMESTAMP NOT NULL
)"""
CANDLE_REVISIONS_V8 = """CREATE TABLE candle_revisions (
    symbol VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL,
    old_open DOUBLE NOT NULL, old_high DOUBLE NOT NULL, old_low DOUBLE NOT NULL, old_close DOUBLE NOT NULL,
    old_volume DOUBLE NOT NULL,
    old_source VARCHAR NOT NULL,
    old_ingested_at TIMESTAMP NOT NULL,
    new_open DOUBLE NOT NULL, new_high DOUBLE NOT NULL, new_low DOUBLE NOT NULL, new_close DOUBLE NOT NULL,
    new_volume DOUBLE NOT NULL,
    new_source VARCHAR NOT NULL,
    run_id VARCHAR,
    revised_at TIMESTAMP NOT NULL
)"""

# A funding-like dataset: other value columns, one a venue may leave empty, no OHLCV.
FUNDING_LIKE = replace(
    SPOT_CANDLES, name="funding_like", table="funding_like", revisions=None,
    schema={"symbol": pl.String(), "ts": pl.Datetime("us"), "rate": pl.Float64(), "mark_price": pl.Float64(),
            "interval_ms": pl.Int64(), "source": pl.String()},
    values=("rate", "mark_price"), nullable=frozenset({"mark_price"}))


def catalog(conn: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    return conn.execute("SELECT column_name, ordinal_position, data_type, is_nullable, column_default "
                        "FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
                        [table]).fetchall()


def test_spot_candles_generated_tables_equal_the_hand_written_ones():
    by_hand, generated = duckdb.connect(), duckdb.connect()
    by_hand.execute(CANDLES_V8)
    by_hand.execute(CANDLE_REVISIONS_V8)
    ensure_tables(generated, SPOT_CANDLES)
    for table in ("candles", "candle_revisions"):
        assert catalog(generated, table) == catalog(by_hand, table) != []
    assert [c for c, *_ in catalog(generated, "candle_revisions")] == list(revision_columns(SPOT_CANDLES))


def test_another_dataset_gets_its_own_tables_typed_from_its_frame():
    conn = duckdb.connect()
    ensure_tables(conn, FUNDING_LIKE)
    ensure_tables(conn, FUNDING_LIKE)  # again: nothing changes
    assert catalog(conn, "funding_like") == [
        ("symbol", 1, "VARCHAR", "NO", None), ("ts", 2, "TIMESTAMP", "NO", None), ("rate", 3, "DOUBLE", "NO", None),
        ("mark_price", 4, "DOUBLE", "YES", None), ("interval_ms", 5, "BIGINT", "NO", None),
        ("source", 6, "VARCHAR", "NO", None), ("ingested_at", 7, "TIMESTAMP", "NO", None)]
    assert [(c, n) for c, _, _, n, _ in catalog(conn, "funding_like_revisions")] == [
        ("symbol", "NO"), ("ts", "NO"), ("old_rate", "NO"), ("old_mark_price", "YES"), ("old_source", "NO"),
        ("old_ingested_at", "NO"), ("new_rate", "NO"), ("new_mark_price", "YES"), ("new_source", "NO"),
        ("run_id", "YES"), ("revised_at", "NO")]
    assert "candles" not in {t for (t,) in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def test_a_frame_type_the_warehouse_has_no_type_for_is_named():
    odd = replace(FUNDING_LIKE, schema={**FUNDING_LIKE.schema, "interval_ms": pl.Duration("ms")})
    with pytest.raises(ValueError, match="funding_like: column interval_ms has the frame type Duration"):
        table_ddl(odd)
    assert "CREATE TABLE IF NOT EXISTS funding_like_revisions" in revisions_ddl(FUNDING_LIKE)

