"""The warehouse schema: created on first use, versioned, never dropped.

`candles` holds base-timeframe candles, one per (symbol, ts), `ts` being the UTC open time. Uniqueness is kept by
the one write path (serialized writers that delete the incoming keys and insert in one transaction), not by a
PRIMARY KEY: DuckDB keeps such an index in memory and maintains it on every insert, which at hundreds of symbols x
years of minutes costs gigabytes and makes bulk loads five times slower. The views answer what
operators ask: how complete is each symbol (`coverage`), which minutes are missing (`gaps`) and which of those every
source confirmed empty (`gap_status`, from `known_gaps`), and 1h / 1d bars.
"""

from __future__ import annotations

import duckdb

SCHEMA_VERSION = 3  # 2: rollup_1h, rollup_1d tables (written by the rollup assets); 3: known_gaps

_TABLES = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL,
    applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE IF NOT EXISTS symbols (
    symbol VARCHAR PRIMARY KEY,
    timeframe_ms BIGINT NOT NULL,
    start_ts TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS candles (
    symbol VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL,
    open DOUBLE NOT NULL,
    high DOUBLE NOT NULL,
    low DOUBLE NOT NULL,
    close DOUBLE NOT NULL,
    volume DOUBLE NOT NULL,
    source VARCHAR NOT NULL,
    ingested_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS rollup_1h (
    symbol VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, open DOUBLE NOT NULL, high DOUBLE NOT NULL, low DOUBLE NOT NULL,
    close DOUBLE NOT NULL, volume DOUBLE NOT NULL, candles INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rollup_1d (
    symbol VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, open DOUBLE NOT NULL, high DOUBLE NOT NULL, low DOUBLE NOT NULL,
    close DOUBLE NOT NULL, volume DOUBLE NOT NULL, candles INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS known_gaps (
    symbol VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL,
    confirmed_at TIMESTAMP NOT NULL,
    sources VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS ingest_log (
    requested_at TIMESTAMP NOT NULL,
    source VARCHAR NOT NULL,
    symbol VARCHAR NOT NULL,
    window_start TIMESTAMP NOT NULL,
    window_end TIMESTAMP NOT NULL,
    rows INTEGER NOT NULL,
    latency_ms DOUBLE NOT NULL,
    outcome VARCHAR NOT NULL,
    error_class VARCHAR,
    run_id VARCHAR
);
"""

_VIEWS = """
CREATE OR REPLACE VIEW gaps AS
WITH ordered AS (
    SELECT c.symbol, c.ts,
           lead(c.ts) OVER (PARTITION BY c.symbol ORDER BY c.ts) AS next_ts,
           coalesce(s.timeframe_ms, 60000) AS tf_ms
    FROM candles c LEFT JOIN symbols s USING (symbol)
)
SELECT symbol,
       ts + to_milliseconds(tf_ms) AS first_missing,
       next_ts - to_milliseconds(tf_ms) AS last_missing,
       CAST((epoch_ms(next_ts) - epoch_ms(ts)) // tf_ms - 1 AS BIGINT) AS missing
FROM ordered
WHERE next_ts IS NOT NULL AND epoch_ms(next_ts) - epoch_ms(ts) > tf_ms;

CREATE OR REPLACE VIEW gap_status AS
SELECT g.symbol, g.first_missing, g.last_missing, g.missing,
       CAST(count(k.ts) AS BIGINT) AS confirmed_empty,
       CAST(g.missing - count(k.ts) AS BIGINT) AS unconfirmed
FROM gaps g LEFT JOIN known_gaps k ON k.symbol = g.symbol AND k.ts BETWEEN g.first_missing AND g.last_missing
GROUP BY g.symbol, g.first_missing, g.last_missing, g.missing;

CREATE OR REPLACE VIEW coverage AS
WITH stored AS (
    SELECT symbol, min(ts) AS first_ts, max(ts) AS last_ts, count(*) AS rows, arg_max(source, ts) AS latest_source
    FROM candles GROUP BY symbol
), holes AS (
    SELECT symbol, count(*) FILTER (WHERE unconfirmed > 0) AS open_gaps, sum(unconfirmed) AS missing,
           sum(confirmed_empty) AS confirmed_holes
    FROM gap_status GROUP BY symbol
)
SELECT st.symbol, st.first_ts, st.last_ts, st.rows,
       CAST((epoch_ms(st.last_ts) - epoch_ms(st.first_ts)) // coalesce(sy.timeframe_ms, 60000) + 1 AS BIGINT)
           AS expected,
       round(100.0 * (st.rows + coalesce(h.confirmed_holes, 0)) / ((epoch_ms(st.last_ts) - epoch_ms(st.first_ts))
           // coalesce(sy.timeframe_ms, 60000) + 1), 4) AS completeness_pct,
       coalesce(h.open_gaps, 0) AS open_gaps,
       CAST(coalesce(h.missing, 0) AS BIGINT) AS missing,
       CAST(coalesce(h.confirmed_holes, 0) AS BIGINT) AS confirmed_holes,
       st.latest_source
FROM stored st LEFT JOIN symbols sy USING (symbol) LEFT JOIN holes h USING (symbol)
ORDER BY st.symbol;

CREATE OR REPLACE VIEW source_health AS
SELECT source,
       count(*) AS requests,
       round(100.0 * count(*) FILTER (WHERE outcome <> 'error') / count(*), 2) AS success_pct,
       round(quantile_cont(latency_ms, 0.5), 1) AS p50_ms,
       round(quantile_cont(latency_ms, 0.95), 1) AS p95_ms,
       round(max(latency_ms), 1) AS max_ms,
       count(*) FILTER (WHERE outcome = 'error') AS errors,
       max(requested_at) AS last_request,
       max(requested_at) FILTER (WHERE outcome = 'error') AS last_error_at,
       arg_max(error_class, requested_at) FILTER (WHERE outcome = 'error') AS last_error_class
FROM ingest_log
WHERE requested_at >= (now() AT TIME ZONE 'UTC') - INTERVAL 24 HOUR
GROUP BY source
ORDER BY source;

CREATE OR REPLACE VIEW candles_1h AS
SELECT symbol, time_bucket(INTERVAL 1 HOUR, ts) AS ts,
       arg_min(open, ts) AS open, max(high) AS high, min(low) AS low, arg_max(close, ts) AS close,
       sum(volume) AS volume, count(*) AS candles
FROM candles GROUP BY symbol, time_bucket(INTERVAL 1 HOUR, ts);

CREATE OR REPLACE VIEW candles_1d AS
SELECT symbol, time_bucket(INTERVAL 1 DAY, ts) AS ts,
       arg_min(open, ts) AS open, max(high) AS high, min(low) AS low, arg_max(close, ts) AS close,
       sum(volume) AS volume, count(*) AS candles
FROM candles GROUP BY symbol, time_bucket(INTERVAL 1 DAY, ts);
"""


class SchemaError(RuntimeError):
    """The warehouse file was written by a newer, incompatible version of Data-Factory."""


def current_version(conn: duckdb.DuckDBPyConnection) -> int:
    """The schema version stored in the file; 0 for a file that has never been initialized."""
    exists = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    ).fetchall()[0][0]
    if not exists:
        return 0
    return conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()[0][0]


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create whatever is missing, in one transaction; a no-op on an up-to-date file.

    Every version so far only adds tables and views, so upgrading an older file is running the same DDL again.
    """
    version = current_version(conn)
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise SchemaError(f"warehouse schema version {version} is newer than this code's {SCHEMA_VERSION}")
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(_TABLES)
        conn.execute(_VIEWS)
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", [SCHEMA_VERSION])
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
