from datetime import datetime

import duckdb
import pytest

from datafactory_assets.warehouse import SCHEMA_VERSION
from datafactory_assets.warehouse.schema import SchemaError, current_version, ensure_schema
from datafactory_tests.helpers import as_schema_version_7


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


def test_a_version_7_file_gains_the_coverage_macros_and_counts_from_the_start_keeping_what_it_held(tmp_path):
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_schema(conn)
    as_schema_version_7(conn)
    conn.execute("INSERT INTO symbols (symbol, timeframe_ms, start_ts) VALUES ('BTC/USDT', 60000, '2024-03-01'); "
                 "INSERT INTO candles VALUES ('BTC/USDT', '2024-03-01 00:00', 1, 1, 1, 1, 1, 'binance', now())")
    ensure_schema(conn)
    assert conn.execute("SELECT max(version) FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    assert conn.execute("SELECT symbol, counted_from, from_ts, rows FROM coverage").fetchall() == [
        ("BTC/USDT", "start", datetime(2024, 3, 1), 1)]


def test_a_version_5_file_gains_candle_revisions_and_keeps_its_candles(warehouse, emulator, sources):
    """A file from before revisions were kept: read-only opens read it as having none, the first write upgrades it."""
    from datetime import UTC, datetime, timedelta

    from datafactory_assets.assets.ingest import ingest_window
    from datafactory_assets.warehouse import queries
    from datafactory_tests.helpers import symbol_settings

    start = datetime(2024, 3, 1, tzinfo=UTC)
    ingest_window(symbol_settings(), start=start, end=start + timedelta(hours=1), sources=sources, warehouse=warehouse)
    with warehouse.connect() as conn:
        conn.execute("DROP TABLE candle_revisions; DELETE FROM schema_version; "
                     "INSERT INTO schema_version (version) VALUES (5)")
    with warehouse.connect(read_only=True) as conn:
        assert current_version(conn) == 5 and queries.revisions(conn).is_empty()
    emulator.set_price_offset("binance", 20)
    report = ingest_window(symbol_settings(), start=start, end=start + timedelta(hours=1), sources=sources,
                           warehouse=warehouse)
    with warehouse.connect(read_only=True) as conn:
        assert current_version(conn) == SCHEMA_VERSION
        assert conn.sql("SELECT count(*) FROM candles").fetchall() == [(60,)]
        assert report.revised == queries.revisions(conn).height == 60


def test_an_older_file_gains_listing_and_hole_evidence_columns_and_keeps_its_rows(tmp_path):
    """Version 5's symbols and known_gaps, as they were written then: upgrading adds columns, loses nothing."""
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL, "
                 "applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp); INSERT INTO schema_version (version) "
                 "VALUES (5)")
    conn.execute("CREATE TABLE symbols (symbol VARCHAR PRIMARY KEY, timeframe_ms BIGINT NOT NULL, "
                 "start_ts TIMESTAMP NOT NULL); INSERT INTO symbols VALUES ('BTC/USDT', 60000, '2024-01-01')")
    conn.execute("CREATE TABLE known_gaps (symbol VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, "
                 "confirmed_at TIMESTAMP NOT NULL, sources VARCHAR NOT NULL, confirmations INTEGER DEFAULT 1); "
                 "INSERT INTO known_gaps VALUES ('BTC/USDT', '2024-01-01 00:05', '2024-02-01', 'binance', 2)")
    ensure_schema(conn)
    assert current_version(conn) == SCHEMA_VERSION
    assert conn.sql("SELECT symbol, start_ts, listed_ts FROM symbols").fetchall() == [
        ("BTC/USDT", datetime(2024, 1, 1), None)]
    assert conn.sql("SELECT confirmations, sources, first_confirmed_at, reason FROM known_gaps").fetchall() == [
        (2, "binance", None, None)]
    assert conn.sql("SELECT count(*) FROM unlisted_pairs").fetchall() == [(0,)]


def test_a_version_8_file_gains_dataset_columns_and_keeps_every_row_as_spot_candles(tmp_path):
    """Version 8's tables as they were written then, one row each: upgrading loses nothing, old rows read as spot
    candles', and the candle tables are left as they were."""
    from datafactory_assets.datasets import SPOT_CANDLES
    from datafactory_tests.warehouse.test_tables import CANDLE_REVISIONS_V8, CANDLES_V8, catalog

    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL, "
                 "applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp); "
                 "INSERT INTO schema_version (version) VALUES (8)")
    conn.execute(f"{CANDLES_V8}; {CANDLE_REVISIONS_V8}")
    conn.execute("CREATE TABLE known_gaps (symbol VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, "
                 "confirmed_at TIMESTAMP NOT NULL, sources VARCHAR NOT NULL, confirmations INTEGER DEFAULT 1, "
                 "first_confirmed_at TIMESTAMP, reason VARCHAR)")
    conn.execute("CREATE TABLE unlisted_pairs (symbol VARCHAR PRIMARY KEY, answers VARCHAR NOT NULL, run_id VARCHAR, "
                 "found_at TIMESTAMP NOT NULL)")
    conn.execute("CREATE TABLE ingest_log (requested_at TIMESTAMP NOT NULL, source VARCHAR NOT NULL, "
                 "symbol VARCHAR NOT NULL, window_start TIMESTAMP NOT NULL, window_end TIMESTAMP NOT NULL, "
                 "rows INTEGER NOT NULL, latency_ms DOUBLE NOT NULL, outcome VARCHAR NOT NULL, error_class VARCHAR, "
                 "run_id VARCHAR)")
    conn.execute("INSERT INTO candles VALUES ('BTC/USDT', '2024-03-01 00:00', 1, 2, 0.5, 1.5, 3, 'binance', "
                 "'2024-03-02'); INSERT INTO candle_revisions VALUES ('BTC/USDT', '2024-03-01 00:00', 1, 2, 0.5, 1.4, "
                 "3, 'okx', '2024-03-01 12:00', 1, 2, 0.5, 1.5, 3, 'binance', 'r-1', '2024-03-02'); "
                 "INSERT INTO known_gaps VALUES ('BTC/USDT', '2024-03-01 00:05', '2024-03-02', 'binance', 2, "
                 "'2024-03-01 20:00', 'a trading halt or maintenance'); "
                 "INSERT INTO unlisted_pairs VALUES ('BTC/USDTT', 'binance: not listed', 'r-2', '2024-03-02'); "
                 "INSERT INTO ingest_log VALUES ('2024-03-02', 'binance', 'BTC/USDT', '2024-03-01', "
                 "'2024-03-01 01:00', 59, 12.5, 'ok', NULL, 'r-1')")
    candle_tables = {table: catalog(conn, table) for table in ("candles", "candle_revisions")}
    ensure_schema(conn)
    assert current_version(conn) == SCHEMA_VERSION
    assert {table: catalog(conn, table) for table in candle_tables} == candle_tables
    assert conn.sql("SELECT symbol, close, source FROM candles").fetchall() == [("BTC/USDT", 1.5, "binance")]
    assert conn.sql("SELECT old_close, new_close, run_id FROM candle_revisions").fetchall() == [(1.4, 1.5, "r-1")]
    assert conn.sql("SELECT ts, confirmations, reason, dataset FROM known_gaps").fetchall() == [
        (datetime(2024, 3, 1, 0, 5), 2, "a trading halt or maintenance", SPOT_CANDLES.name)]
    assert conn.sql("SELECT symbol, answers, dataset FROM unlisted_pairs").fetchall() == [
        ("BTC/USDTT", "binance: not listed", "candles")]
    assert conn.sql("SELECT symbol, rows, run_id, dataset FROM ingest_log").fetchall() == [
        ("BTC/USDT", 59, "r-1", "candles")]


def test_a_version_8_file_with_an_archived_month_gains_dataset_columns_and_answers_as_before(warehouse):
    """Version 10 tells the datasets' rows of the shared tables apart by a `dataset` column the generated views
    filter on: an older file's holes, requests and archived months read as spot candles', nothing lost."""
    from datafactory_assets.warehouse import queries
    from datafactory_assets.warehouse.archive import archive_before

    with warehouse.connect() as conn:
        conn.execute("INSERT INTO symbols (symbol, timeframe_ms, start_ts) "
                     "VALUES ('BTC/USDT', 60000, '2024-03-31 23:00')")
        conn.execute("INSERT INTO candles SELECT 'BTC/USDT', ts, 1, 1, 1, 1, 1, 'binance', now() FROM "
                     "range(TIMESTAMP '2024-03-31 23:00', TIMESTAMP '2024-04-01 01:00', INTERVAL 1 MINUTE) r(ts) "
                     "WHERE minute(ts) <> 30")
        conn.execute("INSERT INTO known_gaps (symbol, ts, confirmed_at, sources, confirmations) "
                     "VALUES ('BTC/USDT', '2024-03-31 23:30', now(), 'binance', 2)")
        conn.execute("INSERT INTO ingest_log (requested_at, source, symbol, window_start, window_end, rows, "
                     "latency_ms, outcome) VALUES (now(), 'binance', 'BTC/USDT', '2024-03-31 23:00', "
                     "'2024-04-01 01:00', 118, 1, 'ok')")
        archive_before(conn, archive_dir=warehouse.archive_path, before=datetime(2024, 4, 1).date())
        until = datetime(2024, 4, 1, 1)
        before = (queries.coverage(conn, until=until), queries.gaps(conn))
        conn.execute("ALTER TABLE known_gaps DROP COLUMN dataset; ALTER TABLE ingest_log DROP COLUMN dataset; "
                     "ALTER TABLE archived_months DROP COLUMN dataset; DELETE FROM schema_version; "
                     "INSERT INTO schema_version (version) VALUES (8)")
    with warehouse.connect() as conn:
        assert current_version(conn) == SCHEMA_VERSION
        after = (queries.coverage(conn, until=until), queries.gaps(conn))
        held = conn.sql("SELECT (SELECT count(*) FROM all_candles), (SELECT count(*) FROM candles)").fetchall()
    assert held == [(118, 59)]  # March's 59 candles in the archive, April's 59 in the table
    assert before[0].equals(after[0]) and before[1].equals(after[1])
    assert after[0].select("rows", "confirmed_empty", "missing", "not_fetched").rows() == [(118, 1, 1, 0)]


def test_a_version_11_file_gains_the_funding_caps_columns_keeps_its_events_and_takes_new_ones(tmp_path):
    """Version 12 adds the caps each funding event was validated against; a version 11 file's events stay, with
    null caps, and events written after the upgrade carry theirs."""
    from datafactory_assets.datasets.funding_rates import FUNDING_RATES, funding_from_rows
    from datafactory_assets.sources.funding_terms import StatedTerms
    from datafactory_assets.warehouse.writes import upsert_rows
    from datafactory_tests.helpers import symbol_settings

    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_schema(conn)
    conn.execute("ALTER TABLE funding_rates DROP COLUMN rate_cap; ALTER TABLE funding_rates DROP COLUMN rate_floor; "
                 "ALTER TABLE funding_rates DROP COLUMN caps_from; UPDATE schema_version SET version = 11")
    conn.execute("INSERT INTO funding_rates VALUES ('BTC/USDT:USDT', '2025-06-02 00:00', 0.0001, 70000.5, 28800000, "
                 "'2025-06-02 00:00:00.003', 'binance', '2025-06-02 00:05')")
    ensure_schema(conn)
    assert current_version(conn) == SCHEMA_VERSION
    assert conn.sql("SELECT ts, rate, mark_price, rate_cap, rate_floor, caps_from FROM all_funding_rates").fetchall() \
        == [(datetime(2025, 6, 2), 0.0001, 70000.5, None, None, None)]
    terms = StatedTerms(28_800_000, 0.003, -0.003, "okx GET /api/v5/public/funding-rate maxFundingRate/minFundingRate")
    frame = funding_from_rows([{"timestamp": 1748851200000, "fundingRate": -0.0002, "info": {}}],
                              symbol="BTC/USDT:USDT", source="okx", terms=terms)
    upsert_rows(conn, frame, dataset=FUNDING_RATES, symbol=symbol_settings("BTC/USDT:USDT", timeframe="1h"))
    assert conn.sql("SELECT ts, rate, rate_cap, rate_floor, caps_from FROM all_funding_rates ORDER BY ts").fetchall() \
        == [(datetime(2025, 6, 2), 0.0001, None, None, None),
            (datetime(2025, 6, 2, 8), -0.0002, 0.003, -0.003, terms.caps_from)]
