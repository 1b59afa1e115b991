"""The warehouse schema: created on first use, versioned, never dropped.

`candles` holds base-timeframe candles, one per (symbol, ts), `ts` being the UTC open time. Uniqueness is kept by
the one write path (serialized writers that delete the incoming keys and insert in one transaction), not by a
PRIMARY KEY: DuckDB keeps such an index in memory and maintains it on every insert, which at hundreds of symbols x
years of minutes costs gigabytes and makes bulk loads five times slower. The views answer what
operators ask: how complete is each symbol (`coverage`), which minutes are missing (`gaps`) and which of those every
source confirmed empty (`gap_status`, from `known_gaps`), and 1h / 1d bars. `candle_revisions` keeps every stored
candle a later write replaced with other values (old and new values and sources, the run, when), so no correction
happens in the dark. Both are spot candles' tables generated from their declaration (`tables`), as every dataset's
rows and revisions tables are; the bookkeeping tables datasets share (`known_gaps`, `ingest_log`,
`unlisted_pairs`) say in `dataset` which one a row is about.

Completeness is counted against what was asked for, not against what happens to be stored: from each symbol's
configured start (or its listing, when the venue's first candle came later) to the last closed hour, the end of the
newest hourly partition. Every candle slot there is in one of four states: stored, confirmed empty (`known_gaps`
with enough confirmations), missing (a logged request's window covered it and nothing is held for it) or not yet
fetched (no request ever covered it). Telling "asked" from "not asked" reads `ingest_log` set-wise: each symbol's
request windows are merged into islands (gaps and islands over the windows sorted by start); held candles (stored
or confirmed empty) are counted per hour and the hours matched to the islands with an ASOF join, candle by candle
only in the hours an island's edge cuts. No per-candle join over the whole table: at 200 symbols x 30 days one ran
at 1.1 GB, this at 0.5 GB. Nor a copy of the held candles: DuckDB materializes a CTE read twice, as `held` is (by the
hours and by the edges), about 32 bytes a candle (515 MB at 200 symbols x 56 days, in every process that asked, the
history line of `datafactory up` included), so the macro says NOT MATERIALIZED and the candles stream through. A
Binance archive file's request is logged for the part of the run's window it covers (sources/binance_archive.py):
the file's other minutes were served, not refused, so they are not yet fetched.

Every view reads `all_candles`: the `candles` table plus the months `datafactory archive` moved to Parquet (listed in
`archived_months`), so archiving changes where candles live, never what the views answer. The views and macros
reading one dataset (`all_candles`, `gaps`, `gap_status`, `coverage_at`, `coverage`, `candles_1h` / `candles_1d`)
are generated from its declaration in `views`, once for every dataset in `DATASETS`; this module keeps the tables
and the views over what all datasets share (`candle_slots`, source health).
"""

from __future__ import annotations

from datetime import timedelta

import duckdb

from datafactory_assets.datasets import DATASETS, SPOT_CANDLES
from datafactory_assets.warehouse.sql import transaction
from datafactory_assets.warehouse.tables import ensure_tables
from datafactory_assets.warehouse.views import create_views

SCHEMA_VERSION = 14  # 2: rollup_1h, rollup_1d tables (written by the rollup assets); 3: known_gaps;
# 4: archived_months, all_candles, source_health_hourly; 5: known_gaps.confirmations; 6: candle_revisions;
# 7: known_gaps.first_confirmed_at and .reason, symbols.listed_ts (the pair's first candle, as a venue dated it),
# unlisted_pairs (symbols no source of their chain lists, for doctor)
# 8: the candle_slots and coverage_at macros, coverage counted from the configured start or listing to the
# last closed hour
# 9: each dataset's rows and revisions tables generated from its declaration (spot candles' `candles` and
# `candle_revisions` unchanged); known_gaps, ingest_log and unlisted_pairs say which dataset a row is about
# (`dataset`, old rows: spot candles)
# 10: every view and macro reading one dataset is generated from its declaration (`views`; spot candles keep their
# names and answers); archived_months gains `dataset` too, which the generated views filter on
# 11: the perpetual datasets' generated tables and views (perp_candles, mark_candles, index_candles,
# premium_candles, funding_rates, open_interest) and, for funding's venue-stated cadence, its interval timeline view
# (`funding_rates_intervals`) and slot-counting macro (`funding_rates_slots`); symbols.delisted_ts (when the pair's
# last candle closed, once a venue stops listing it as trading): coverage counts to it and healing asks nothing after
# it; venue_symbols (which venue symbol a renamed instrument's stored rows came from, per write; rows it does not
# cover came from the instrument's own symbol)
# 12: funding_rates.rate_cap, rate_floor and caps_from: the caps the venue stated for the instrument when each event
# was fetched and where it stated them ("unknown: ..." where it did not), the bounds the event was validated against
# 13: funding_rates_coverage_at counts each instrument's asked events on its own timeline (version 12's counted
# every instrument's, so `missing` read other instruments' events as missing and `not_fetched` went negative)
# 14: every coverage_at streams its held rows (NOT MATERIALIZED) instead of copying them all first
CONFIRMATION_SPACING = timedelta(hours=1)  # ... at least this far apart: two fetches inside one glitch are one

_TABLES = f"""
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL,
    applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE IF NOT EXISTS symbols (
    symbol VARCHAR PRIMARY KEY,
    timeframe_ms BIGINT NOT NULL,
    start_ts TIMESTAMP NOT NULL
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
ALTER TABLE symbols ADD COLUMN IF NOT EXISTS delisted_ts TIMESTAMP;
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
CREATE TABLE IF NOT EXISTS venue_symbols (
    dataset VARCHAR NOT NULL,
    symbol VARCHAR NOT NULL,
    venue_symbol VARCHAR NOT NULL,
    first_ts TIMESTAMP NOT NULL,
    last_ts TIMESTAMP NOT NULL,
    run_id VARCHAR,
    recorded_at TIMESTAMP NOT NULL
);
ALTER TABLE known_gaps ADD COLUMN IF NOT EXISTS dataset VARCHAR DEFAULT '{SPOT_CANDLES.name}';
ALTER TABLE ingest_log ADD COLUMN IF NOT EXISTS dataset VARCHAR DEFAULT '{SPOT_CANDLES.name}';
ALTER TABLE unlisted_pairs ADD COLUMN IF NOT EXISTS dataset VARCHAR DEFAULT '{SPOT_CANDLES.name}';
ALTER TABLE archived_months ADD COLUMN IF NOT EXISTS dataset VARCHAR DEFAULT '{SPOT_CANDLES.name}';
"""

# Over a set of ingest_log rows: the numbers `source_health` and `source_health_hourly` both report.
_REQUEST_STATS = """count(*) AS requests,
       round(100.0 * count(*) FILTER (WHERE outcome <> 'error') / count(*), 2) AS success_pct,
       round(quantile_cont(latency_ms, 0.5), 1) AS p50_ms,
       round(quantile_cont(latency_ms, 0.95), 1) AS p95_ms,
       round(max(latency_ms), 1) AS max_ms,
       count(*) FILTER (WHERE outcome = 'error') AS errors"""

_SHARED_VIEWS = f"""
CREATE OR REPLACE MACRO candle_slots(first, stop, tf_ms) AS
    greatest((epoch_ms(stop) + tf_ms - 1) // tf_ms - (epoch_ms(first) + tf_ms - 1) // tf_ms, 0);

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
"""


class SchemaError(RuntimeError):
    """The warehouse file's schema is not this code's: written by a newer version, or older and opened read-only
    (which never upgrades it) by a reader that needs what the new version adds."""


def current_version(conn: duckdb.DuckDBPyConnection) -> int:
    """The schema version stored in the file; 0 for a file that has never been initialized.

    One query, the table's absence answered by DuckDB's catalog error: every connection that writes asks, inside
    the warehouse lock, and a lookup in `duckdb_tables()` first cost as much again. Asked outside a transaction (an
    error inside one would abort it)."""
    try:
        return conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()[0][0]
    except duckdb.CatalogException:
        return 0


def require_current(conn: duckdb.DuckDBPyConnection) -> None:
    """Refuse, in one line saying what to do, a file older than this code that a read-only connection opened."""
    version = current_version(conn)
    if version < SCHEMA_VERSION:
        raise SchemaError(f"warehouse schema version {version} is older than this code's {SCHEMA_VERSION}: run "
                          "`datafactory init` to upgrade it in place (nothing is lost), or let a run write to it")


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
        for dataset in DATASETS.values():
            ensure_tables(conn, dataset)
        conn.execute(_SHARED_VIEWS)
        for dataset in DATASETS.values():
            create_views(conn, dataset)
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", [SCHEMA_VERSION])
