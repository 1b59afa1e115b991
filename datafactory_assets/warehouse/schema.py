"""The warehouse schema: created on first use, versioned, never dropped.

`candles` holds base-timeframe candles, one per (symbol, ts), `ts` being the UTC open time. Uniqueness is kept by
the one write path (serialized writers that delete the incoming keys and insert in one transaction), not by a
PRIMARY KEY: DuckDB keeps such an index in memory and maintains it on every insert, which at hundreds of symbols x
years of minutes costs gigabytes and makes bulk loads five times slower. The views answer what
operators ask: how complete is each symbol (`coverage`), which minutes are missing (`gaps`) and which of those every
source confirmed empty (`gap_status`, from `known_gaps`), and 1h / 1d bars. `candle_revisions` keeps every stored
candle a later write replaced with other values (old and new values and sources, the run, when), so no correction
happens in the dark.

Completeness is counted against what was asked for, not against what happens to be stored: from each symbol's
configured start (or its listing, when the venue's first candle came later) to the last closed hour, the end of the
newest hourly partition. Every candle slot there is in one of four states: stored, confirmed empty (`known_gaps`
with enough confirmations), missing (a logged request's window covered it and nothing is held for it) or not yet
fetched (no request ever covered it). Telling "asked" from "not asked" reads `ingest_log` set-wise: each symbol's
request windows are merged into islands (gaps and islands over the windows sorted by start); held candles (stored
or confirmed empty) are counted per hour and the hours matched to the islands with an ASOF join, candle by candle
only in the hours an island's edge cuts. No per-candle join over the whole table: at 200 symbols x 30 days one ran
at 1.1 GB, this at 0.5 GB. A Binance archive file's request is logged for the part of the run's window it covers
(sources/binance_archive.py): the file's other minutes were served, not refused, so they are not yet fetched.

Every view reads `all_candles`: the `candles` table plus the months `datafactory archive` moved to Parquet (listed in
`archived_months`), so archiving changes where candles live, never what the views answer.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb

from datafactory_assets.warehouse.sql import transaction

SCHEMA_VERSION = 8  # 2: rollup_1h, rollup_1d tables (written by the rollup assets); 3: known_gaps;
# 4: archived_months, all_candles, source_health_hourly; 5: known_gaps.confirmations; 6: candle_revisions;
# 7: known_gaps.first_confirmed_at and .reason, symbols.listed_ts (the pair's first candle, as a venue dated it),
# unlisted_pairs (symbols no source of their chain lists, for doctor)
# 8: the candle_slots and coverage_at macros, coverage counted from the configured start or listing to the
# last closed hour
CONFIRMATIONS_NEEDED = 2  # a hole counts as confirmed once every source lacked it in two separate fetches
CONFIRMATION_SPACING = timedelta(hours=1)  # ... at least this far apart: two fetches inside one glitch are one

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
ALTER TABLE known_gaps ADD COLUMN IF NOT EXISTS confirmations INTEGER DEFAULT 1;
ALTER TABLE known_gaps ADD COLUMN IF NOT EXISTS first_confirmed_at TIMESTAMP;
ALTER TABLE known_gaps ADD COLUMN IF NOT EXISTS reason VARCHAR;
ALTER TABLE symbols ADD COLUMN IF NOT EXISTS listed_ts TIMESTAMP;
CREATE TABLE IF NOT EXISTS unlisted_pairs (
    symbol VARCHAR PRIMARY KEY,
    answers VARCHAR NOT NULL,
    run_id VARCHAR,
    found_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS archived_months (
    symbol VARCHAR NOT NULL,
    month VARCHAR NOT NULL,
    rows BIGINT NOT NULL,
    checksum HUGEINT NOT NULL,
    archived_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS candle_revisions (
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

# Over a set of ingest_log rows: the numbers `source_health` and `source_health_hourly` both report.
_REQUEST_STATS = """count(*) AS requests,
       round(100.0 * count(*) FILTER (WHERE outcome <> 'error') / count(*), 2) AS success_pct,
       round(quantile_cont(latency_ms, 0.5), 1) AS p50_ms,
       round(quantile_cont(latency_ms, 0.95), 1) AS p95_ms,
       round(max(latency_ms), 1) AS max_ms,
       count(*) FILTER (WHERE outcome = 'error') AS errors"""

_CANDLE_COLUMNS = "symbol, ts, open, high, low, close, volume, source, ingested_at"

# One bar over a bucket's base candles: the `candles_1h` / `candles_1d` views and the rollup tables agree by sharing it.
BAR_COLUMNS = ("arg_min(open, ts) AS open, max(high) AS high, min(low) AS low, arg_max(close, ts) AS close, "
               "sum(volume) AS volume, count(*) AS candles")

# Archive files sit under `<warehouse stem>.archive/`; every connection sets DuckDB's file_search_path there, so the
# views hold a relative glob and keep working when the warehouse file moves or is renamed together with its archive.
ARCHIVE_GLOB = "symbol=*/month=*/data.parquet"

_VIEWS = f"""
CREATE OR REPLACE VIEW gaps AS
WITH ordered AS (
    SELECT c.symbol, c.ts,
           lead(c.ts) OVER (PARTITION BY c.symbol ORDER BY c.ts) AS next_ts,
           coalesce(s.timeframe_ms, 60000) AS tf_ms
    FROM all_candles c LEFT JOIN symbols s USING (symbol)
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
       CAST(g.missing - count(k.ts) AS BIGINT) AS unconfirmed,
       string_agg(DISTINCT k.reason, '; ') AS reason
FROM gaps g LEFT JOIN known_gaps k ON k.symbol = g.symbol AND k.ts BETWEEN g.first_missing AND g.last_missing
    AND k.confirmations >= {CONFIRMATIONS_NEEDED}
GROUP BY g.symbol, g.first_missing, g.last_missing, g.missing;

CREATE OR REPLACE MACRO candle_slots(first, stop, tf_ms) AS
    greatest((epoch_ms(stop) + tf_ms - 1) // tf_ms - (epoch_ms(first) + tf_ms - 1) // tf_ms, 0);

CREATE OR REPLACE MACRO coverage_at(until, names, starts, timeframes) AS TABLE
WITH configured AS (
    SELECT unnest(names) AS symbol, unnest(starts) AS start_ts, unnest(timeframes) AS timeframe_ms
), wanted AS (
    SELECT c.symbol, c.start_ts, c.timeframe_ms, s.listed_ts FROM configured c LEFT JOIN symbols s USING (symbol)
    UNION ALL
    SELECT symbol, start_ts, timeframe_ms, listed_ts FROM symbols
    WHERE symbol NOT IN (SELECT symbol FROM configured)
), spans AS (
    SELECT symbol, timeframe_ms AS tf_ms,
           CASE WHEN listed_ts > start_ts THEN 'listing' ELSE 'start' END AS counted_from,
           greatest(start_ts, coalesce(listed_ts, start_ts)) AS from_ts, CAST(until AS TIMESTAMP) AS until_ts
    FROM wanted
), asked AS (
    SELECT r.symbol, greatest(r.window_start, sp.from_ts) AS first, least(r.window_end, sp.until_ts) AS stop
    FROM ingest_log r JOIN spans sp USING (symbol)
    WHERE r.window_end > sp.from_ts AND r.window_start < sp.until_ts
), marked AS (
    SELECT symbol, first, stop,
           CASE WHEN first <= max(stop) OVER (PARTITION BY symbol ORDER BY first, stop
                                              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                THEN 0 ELSE 1 END AS opens_island
    FROM asked
), islands AS (
    SELECT symbol, min(first) AS first, max(stop) AS stop FROM (
        SELECT symbol, first, stop,
               sum(opens_island) OVER (PARTITION BY symbol ORDER BY first, stop ROWS UNBOUNDED PRECEDING) AS island
        FROM marked)
    GROUP BY symbol, island
), asked_slots AS (
    SELECT symbol, sum(candle_slots(i.first, i.stop, sp.tf_ms)) AS asked FROM islands i JOIN spans sp USING (symbol)
    GROUP BY symbol
), stored AS (
    SELECT c.symbol, min(c.ts) AS first_ts, max(c.ts) AS last_ts, arg_max(c.source, c.ts) AS latest_source,
           count(*) FILTER (WHERE c.ts >= sp.from_ts AND c.ts < sp.until_ts) AS rows
    FROM all_candles c JOIN spans sp USING (symbol)
    GROUP BY c.symbol
), held AS (
    SELECT c.symbol, c.ts FROM all_candles c JOIN spans sp USING (symbol)
    WHERE c.ts >= sp.from_ts AND c.ts < sp.until_ts
    UNION ALL
    SELECT k.symbol, k.ts FROM known_gaps k JOIN spans sp USING (symbol)
    WHERE k.confirmations >= {CONFIRMATIONS_NEEDED} AND k.ts >= sp.from_ts AND k.ts < sp.until_ts
), hourly AS (
    SELECT symbol, time_bucket(INTERVAL 1 HOUR, ts) AS hour, count(*) AS n FROM held GROUP BY ALL
), ragged AS (
    SELECT DISTINCT symbol, time_bucket(INTERVAL 1 HOUR, edge) AS hour
    FROM (SELECT symbol, unnest([first, stop]) AS edge FROM islands)
    WHERE edge <> time_bucket(INTERVAL 1 HOUR, edge)
), held_asked AS (
    SELECT h.symbol, h.n FROM hourly h ASOF JOIN islands i ON h.symbol = i.symbol AND h.hour >= i.first
    WHERE h.hour + INTERVAL 1 HOUR <= i.stop AND NOT EXISTS (
        SELECT 1 FROM ragged r WHERE r.symbol = h.symbol AND r.hour = h.hour)
    UNION ALL
    SELECT e.symbol, 1 FROM (
        SELECT h.symbol, h.ts FROM held h JOIN ragged r
            ON h.symbol = r.symbol AND time_bucket(INTERVAL 1 HOUR, h.ts) = r.hour) e
        ASOF JOIN islands i ON e.symbol = i.symbol AND e.ts >= i.first
    WHERE e.ts < i.stop
), confirmed AS (
    SELECT k.symbol, count(*) AS holes FROM known_gaps k JOIN spans sp USING (symbol)
    WHERE k.confirmations >= {CONFIRMATIONS_NEEDED} AND k.ts >= sp.from_ts AND k.ts < sp.until_ts
    GROUP BY k.symbol
), asked_held AS (
    SELECT symbol, sum(n) AS held FROM held_asked GROUP BY symbol
), counted AS (
    SELECT sp.symbol, sp.counted_from, sp.from_ts, sp.until_ts,
           CAST(candle_slots(sp.from_ts, sp.until_ts, sp.tf_ms) AS BIGINT) AS expected,
           CAST(coalesce(st.rows, 0) AS BIGINT) AS rows,
           CAST(coalesce(cf.holes, 0) AS BIGINT) AS confirmed_empty,
           CAST(coalesce(a.asked, 0) - coalesce(ah.held, 0) AS BIGINT) AS missing,
           st.first_ts, st.last_ts, st.latest_source
    FROM spans sp LEFT JOIN stored st USING (symbol) LEFT JOIN confirmed cf USING (symbol)
        LEFT JOIN asked_slots a USING (symbol) LEFT JOIN asked_held ah USING (symbol)
)
SELECT symbol, counted_from, from_ts, until_ts, expected, rows, confirmed_empty, missing,
       expected - rows - confirmed_empty - missing AS not_fetched,
       CASE WHEN expected = 0 THEN 100.0
            ELSE least(round(100.0 * (rows + confirmed_empty) / expected, 4), 100.0) END AS completeness_pct,
       first_ts, last_ts, latest_source
FROM counted
ORDER BY symbol;

CREATE OR REPLACE VIEW coverage AS
SELECT * FROM coverage_at(date_trunc('hour', now() AT TIME ZONE 'UTC'), []::VARCHAR[], []::TIMESTAMP[], []::BIGINT[]);

CREATE OR REPLACE VIEW source_health AS
SELECT source,
       {_REQUEST_STATS},
       max(requested_at) AS last_request,
       max(requested_at) FILTER (WHERE outcome = 'error') AS last_error_at,
       arg_max(error_class, requested_at) FILTER (WHERE outcome = 'error') AS last_error_class
FROM ingest_log
WHERE requested_at >= (now() AT TIME ZONE 'UTC') - INTERVAL 24 HOUR
GROUP BY source
ORDER BY source;

CREATE OR REPLACE VIEW source_health_hourly AS
WITH classes AS (
    SELECT source, time_bucket(INTERVAL 1 HOUR, requested_at) AS hour, error_class, count(*) AS n
    FROM ingest_log WHERE outcome = 'error' GROUP BY ALL
), by_hour AS (
    SELECT source, time_bucket(INTERVAL 1 HOUR, requested_at) AS hour, {_REQUEST_STATS}
    FROM ingest_log GROUP BY ALL
)
SELECT h.*, (SELECT string_agg(coalesce(c.error_class, 'unclassified') || ' ' || c.n, ', '
                               ORDER BY c.n DESC, c.error_class)
             FROM classes c WHERE c.source = h.source AND c.hour = h.hour) AS error_classes
FROM by_hour h
ORDER BY h.hour, h.source;

CREATE OR REPLACE VIEW candles_1h AS
SELECT symbol, time_bucket(INTERVAL 1 HOUR, ts) AS ts, {BAR_COLUMNS}
FROM all_candles GROUP BY symbol, time_bucket(INTERVAL 1 HOUR, ts);

CREATE OR REPLACE VIEW candles_1d AS
SELECT symbol, time_bucket(INTERVAL 1 DAY, ts) AS ts, {BAR_COLUMNS}
FROM all_candles GROUP BY symbol, time_bucket(INTERVAL 1 DAY, ts);
"""


class SchemaError(RuntimeError):
    """The warehouse file's schema is not this code's: written by a newer version, or older and opened read-only
    (which never upgrades it) by a reader that needs what the new version adds."""


def current_version(conn: duckdb.DuckDBPyConnection) -> int:
    """The schema version stored in the file; 0 for a file that has never been initialized."""
    exists = conn.execute(  # duckdb_tables(), not the information_schema view over it: a third of the time, and
        # every connection that writes asks (inside the warehouse lock)
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_version'"
    ).fetchall()[0][0]
    if not exists:
        return 0
    return conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()[0][0]


def require_current(conn: duckdb.DuckDBPyConnection) -> None:
    """Refuse, in one line saying what to do, a file older than this code that a read-only connection opened."""
    version = current_version(conn)
    if version < SCHEMA_VERSION:
        raise SchemaError(f"warehouse schema version {version} is older than this code's {SCHEMA_VERSION}: run "
                          "`datafactory init` to upgrade it in place (nothing is lost), or let a run write to it")


def all_candles_view(conn: duckdb.DuckDBPyConnection) -> str:
    """The `all_candles` definition for what is archived now: the table alone, or the table plus the archive files of
    the months `archived_months` lists (a file not listed there is a move that never committed, and stays unread)."""
    if not conn.execute("SELECT count(*) FROM archived_months").fetchall()[0][0]:
        return f"CREATE OR REPLACE VIEW all_candles AS SELECT {_CANDLE_COLUMNS} FROM candles"
    return f"""CREATE OR REPLACE VIEW all_candles AS
SELECT {_CANDLE_COLUMNS} FROM candles
UNION ALL
SELECT {_CANDLE_COLUMNS}
FROM read_parquet('{ARCHIVE_GLOB}', hive_partitioning = true, hive_types = {{'symbol': VARCHAR, 'month': VARCHAR}}) a
WHERE EXISTS (SELECT 1 FROM archived_months m WHERE m.symbol = a.symbol AND m.month = a.month)"""


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create whatever is missing, in one transaction; a no-op on an up-to-date file.

    Every version so far only adds tables and views, so upgrading an older file is running the same DDL again.
    """
    version = current_version(conn)
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise SchemaError(f"warehouse schema version {version} is newer than this code's {SCHEMA_VERSION}")
    with transaction(conn):
        conn.execute(_TABLES)
        conn.execute(all_candles_view(conn))
        conn.execute(_VIEWS)
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", [SCHEMA_VERSION])
