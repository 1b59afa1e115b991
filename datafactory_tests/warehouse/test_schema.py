import duckdb
import pytest

from datafactory_assets.warehouse import SCHEMA_VERSION
from datafactory_assets.warehouse.schema import SchemaError, current_version, ensure_schema


def test_schema_is_created_once_and_versioned(tmp_path):
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert current_version(conn) == 0
    ensure_schema(conn)
    ensure_schema(conn)
    assert conn.execute("SELECT count(*), max(version) FROM schema_version").fetchall() == [(1, SCHEMA_VERSION)]
    names = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"candles", "ingest_log", "symbols", "schema_version", "coverage", "gaps", "candles_1h",
            "candles_1d"} <= names


def test_a_newer_schema_is_refused_not_overwritten(tmp_path):
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_schema(conn)
    conn.execute("INSERT INTO schema_version (version) VALUES (?)", [SCHEMA_VERSION + 1])
    with pytest.raises(SchemaError, match="newer than this code"):
        ensure_schema(conn)


def test_reopening_an_initialized_file_leaves_the_connection_usable(warehouse):
    """DuckDB 2 refuses further work on a connection with an unfinished result; the version probe must finish its."""
    import polars as pl

    with warehouse.connect():
        pass
    with warehouse.connect() as conn:
        conn.register("probe", pl.DataFrame({"x": [1]}))
        assert conn.sql("SELECT x FROM probe").fetchall() == [(1,)]
