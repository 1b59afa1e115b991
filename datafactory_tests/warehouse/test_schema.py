import duckdb
import pytest

from datafactory_assets.warehouse import SCHEMA_VERSION
from datafactory_assets.warehouse.schema import SchemaError, current_version, ensure_schema


def test_schema_is_created_once_and_versioned(tmp_path):
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert current_version(conn) == 0
    ensure_schema(conn)
    ensure_schema(conn)
    assert conn.execute("SELECT count(*), max(version) FROM schema_version").fetchone() == (1, SCHEMA_VERSION)
    names = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"candles", "ingest_log", "symbols", "schema_version", "coverage", "gaps", "candles_1h",
            "candles_1d"} <= names


def test_a_newer_schema_is_refused_not_overwritten(tmp_path):
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_schema(conn)
    conn.execute("INSERT INTO schema_version (version) VALUES (?)", [SCHEMA_VERSION + 1])
    with pytest.raises(SchemaError, match="newer than this code"):
        ensure_schema(conn)
