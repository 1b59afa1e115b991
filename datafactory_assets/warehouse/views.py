"""The views and macros that read one dataset, generated from its declaration, so a second dataset gets gaps,
coverage and rollups from what it declares instead of from a copy of the SQL.

Names, for a dataset `d` (spot candles keep the names they had before datasets existed):

| what                                  | spot candles                | another dataset (`perp_candles`)   |
|---------------------------------------|-----------------------------|------------------------------------|
| table plus archived months (`d.view`) | `all_candles`               | `all_perp_candles`                 |
| missing ranges                        | `gaps`                      | `perp_candles_gaps`                |
| ... with confirmed holes              | `gap_status`                | `perp_candles_gap_status`          |
| coverage macro                        | `coverage_at`               | `perp_candles_coverage_at`         |
| coverage view                         | `coverage`                  | `perp_candles_coverage`            |
| interval timeline, slots (venue-stated cadence) | none              | `funding_rates_intervals`, `_slots` |
| 1h / 1d bars (OHLCV only)             | `candles_1h`, `candles_1d`  | `perp_candles_1h`, `..._1d`        |
| rollup tables (OHLCV only)            | `rollup_1h`, `rollup_1d`    | `perp_candles_rollup_1h`, `..._1d` |
| archive files in `<stem>.archive/`    | `symbol=*/month=*/`         | `perp_candles/symbol=*/month=*/`   |

Gaps and coverage count slots at the dataset's cadence (`datasets.slots`: for funding, the interval in force at
each time, read from the rows' own `interval_ms`), and read only the dataset's own rows
of the shared `known_gaps`, `ingest_log` and `archived_months` (their `dataset` column). `symbols` is per
instrument, shared by every dataset, so a coverage lists an instrument no longer configured only where the dataset
stored rows or logged requests for it (checked on the per-symbol result, not with another scan of the rows). See
`schema` for what coverage counts and why it is computed this way.
"""

from __future__ import annotations

import duckdb

from datafactory_assets.datasets import Dataset
from datafactory_assets.datasets.slots import intervals_sql, slot_count_sql, slot_ms_sql

CONFIRMATIONS_NEEDED = 2  # a hole counts as confirmed once every source lacked it in two separate fetches

# One bar over a bucket's base rows: the `<table>_1h` / `<table>_1d` views and the rollup tables agree by sharing it.
BAR_COLUMNS = ("arg_min(open, ts) AS open, max(high) AS high, min(low) AS low, arg_max(close, ts) AS close, "
               "sum(volume) AS volume, count(*) AS candles")
BUCKETS = {"1h": "INTERVAL 1 HOUR", "1d": "INTERVAL 1 DAY"}

# Archive files sit under `<warehouse stem>.archive/`; every connection sets DuckDB's file_search_path there, so the
# views hold a relative glob and keep working when the warehouse file moves or is renamed together with its archive.
ARCHIVE_FILES = "symbol=*/month=*/data.parquet"

# An instrument's configured slot width over its `symbols` row `s`; the base timeframe's default where none exists.
CONFIGURED_MS = "coalesce(s.timeframe_ms, 60000)"


def dataset_literal(dataset: Dataset) -> str:
    """The dataset's name as an SQL string literal, to filter the shared tables' `dataset` column."""
    return "'" + dataset.name.replace("'", "''") + "'"


def archive_folder(dataset: Dataset) -> str:
    """Where the dataset's archived months sit inside the archive directory: spot candles at its root (the layout
    from before datasets, which archived files keep), every other dataset in a folder named after its table."""
    return "" if dataset.view_prefix == "" else f"{dataset.table}/"


def rollup_view(dataset: Dataset, bucket: str) -> str:
    """`candles_1h`, `perp_candles_1d`: the bars of an OHLCV dataset's rows, computed on read."""
    return f"{dataset.table}_{bucket}"


def rollup_table(dataset: Dataset, bucket: str) -> str:
    """`rollup_1h` for spot candles, `perp_candles_rollup_1h` for another OHLCV dataset: the bars the rollup assets
    write."""
    return f"rollup_{bucket}" if dataset.view_prefix == "" else f"{dataset.table}_rollup_{bucket}"


def file_columns(conn: duckdb.DuckDBPyConnection, dataset: Dataset) -> str:
    """The columns of the dataset's table an archive file holds (all but `symbol`, which its folder names), in
    table order."""
    names = [name for (name,) in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND table_schema = 'main' "
        "ORDER BY ordinal_position", [dataset.table]).fetchall() if name != "symbol"]
    return ", ".join(names)


def all_rows_view(conn: duckdb.DuckDBPyConnection, dataset: Dataset) -> str:
    """The `dataset.view` definition for what is archived now: the table alone, or the table plus the archive files
    of the months `archived_months` lists for the dataset (a file not listed there is a move that never committed,
    and stays unread)."""
    columns = f"symbol, {file_columns(conn, dataset)}"
    archived = conn.execute(f"SELECT count(*) FROM archived_months WHERE dataset = {dataset_literal(dataset)}"
                            ).fetchall()[0][0]
    if not archived:
        return f"CREATE OR REPLACE VIEW {dataset.view} AS SELECT {columns} FROM {dataset.table}"
    return f"""CREATE OR REPLACE VIEW {dataset.view} AS
SELECT {columns} FROM {dataset.table}
UNION ALL
SELECT {columns}
FROM read_parquet('{archive_folder(dataset)}{ARCHIVE_FILES}', hive_partitioning = true,
                  hive_types = {{'symbol': VARCHAR, 'month': VARCHAR}}) a
WHERE EXISTS (SELECT 1 FROM archived_months m WHERE m.dataset = {dataset_literal(dataset)} AND m.symbol = a.symbol
              AND m.month = a.month)"""


def create_views(conn: duckdb.DuckDBPyConnection, dataset: Dataset) -> None:
    """(Re)create every view and macro reading `dataset` on `conn`, its tables (the dataset's own and the shared
    ones) being there already; `schema.ensure_schema` runs it for every dataset in `DATASETS`."""
    conn.execute(all_rows_view(conn, dataset))
    conn.execute(dataset_views(dataset))


def dataset_views(dataset: Dataset) -> str:
    """Every view and macro reading `dataset` besides its `all_` view (see the module docstring for the names)."""
    sql = intervals_sql(dataset) + _gaps(dataset) + _coverage(dataset)
    if dataset.ohlcv:
        sql += "".join(_bars(dataset, bucket) for bucket in BUCKETS)
    return sql


def _gaps(dataset: Dataset) -> str:
    gaps, name = dataset.relation("gaps"), dataset_literal(dataset)
    return f"""
CREATE OR REPLACE VIEW {gaps} AS
WITH ordered AS (
    SELECT c.symbol, c.ts,
           lead(c.ts) OVER (PARTITION BY c.symbol ORDER BY c.ts) AS next_ts,
           {slot_ms_sql(dataset, CONFIGURED_MS, row="c")} AS tf_ms
    FROM {dataset.view} c LEFT JOIN symbols s USING (symbol)
)
SELECT symbol,
       ts + to_milliseconds(tf_ms) AS first_missing,
       next_ts - to_milliseconds(tf_ms) AS last_missing,
       CAST((epoch_ms(next_ts) - epoch_ms(ts)) // tf_ms - 1 AS BIGINT) AS missing
FROM ordered
WHERE next_ts IS NOT NULL AND epoch_ms(next_ts) - epoch_ms(ts) > tf_ms;

CREATE OR REPLACE VIEW {dataset.relation("gap_status")} AS
SELECT g.symbol, g.first_missing, g.last_missing, g.missing,
       CAST(count(k.ts) AS BIGINT) AS confirmed_empty,
       CAST(g.missing - count(k.ts) AS BIGINT) AS unconfirmed,
       string_agg(DISTINCT k.reason, '; ') AS reason
FROM {gaps} g LEFT JOIN known_gaps k ON k.dataset = {name} AND k.symbol = g.symbol
    AND k.ts BETWEEN g.first_missing AND g.last_missing AND k.confirmations >= {CONFIRMATIONS_NEEDED}
GROUP BY g.symbol, g.first_missing, g.last_missing, g.missing;
"""


def _coverage(dataset: Dataset) -> str:
    coverage_at, name, rows = dataset.relation("coverage_at"), dataset_literal(dataset), dataset.view
    holes = f"k.dataset = {name} AND k.confirmations >= {CONFIRMATIONS_NEEDED}"
    return f"""
CREATE OR REPLACE MACRO {coverage_at}(until, names, starts, timeframes) AS TABLE
WITH configured AS (
    SELECT unnest(names) AS symbol, unnest(starts) AS start_ts, unnest(timeframes) AS timeframe_ms
), wanted AS (
    SELECT c.symbol, c.start_ts, c.timeframe_ms, s.listed_ts, s.delisted_ts, true AS configured
    FROM configured c LEFT JOIN symbols s USING (symbol)
    UNION ALL
    SELECT symbol, start_ts, timeframe_ms, listed_ts, delisted_ts, false FROM symbols
    WHERE symbol NOT IN (SELECT symbol FROM configured)
), spans AS (
    SELECT symbol, configured, {slot_ms_sql(dataset, "timeframe_ms")} AS tf_ms, delisted_ts,
           CASE WHEN listed_ts > start_ts THEN 'listing' ELSE 'start' END AS counted_from,
           greatest(start_ts, coalesce(listed_ts, start_ts)) AS from_ts,
           least(CAST(until AS TIMESTAMP), coalesce(delisted_ts, CAST(until AS TIMESTAMP))) AS until_ts
    FROM wanted
), asked AS (
    SELECT r.symbol, greatest(r.window_start, sp.from_ts) AS first, least(r.window_end, sp.until_ts) AS stop
    FROM ingest_log r JOIN spans sp USING (symbol)
    WHERE r.dataset = {name} AND r.window_end > sp.from_ts AND r.window_start < sp.until_ts
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
    SELECT symbol, sum({slot_count_sql(dataset, symbol="sp.symbol", first="i.first", stop="i.stop", width="sp.tf_ms")})
           AS asked FROM islands i JOIN spans sp USING (symbol)
    GROUP BY symbol
), stored AS (
    SELECT c.symbol, min(c.ts) AS first_ts, max(c.ts) AS last_ts, arg_max(c.source, c.ts) AS latest_source,
           count(*) FILTER (WHERE c.ts >= sp.from_ts AND c.ts < sp.until_ts) AS rows
    FROM {rows} c JOIN spans sp USING (symbol)
    GROUP BY c.symbol
), held AS NOT MATERIALIZED (  -- read twice: materialized, it was a copy of every held candle (see `schema`)
    SELECT c.symbol, c.ts FROM {rows} c JOIN spans sp USING (symbol)
    WHERE c.ts >= sp.from_ts AND c.ts < sp.until_ts
    UNION ALL
    SELECT k.symbol, k.ts FROM known_gaps k JOIN spans sp USING (symbol)
    WHERE {holes} AND k.ts >= sp.from_ts AND k.ts < sp.until_ts
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
    WHERE {holes} AND k.ts >= sp.from_ts AND k.ts < sp.until_ts
    GROUP BY k.symbol
), asked_held AS (
    SELECT symbol, sum(n) AS held FROM held_asked GROUP BY symbol
), counted AS (
    SELECT sp.symbol, sp.configured, sp.counted_from, sp.from_ts, sp.until_ts, sp.delisted_ts,
           CAST({slot_count_sql(dataset, symbol="sp.symbol", first="sp.from_ts", stop="sp.until_ts",
                                width="sp.tf_ms")} AS BIGINT) AS expected,
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
       first_ts, last_ts, latest_source,
       CASE WHEN delisted_ts IS NOT NULL THEN 'delisted ' || strftime(delisted_ts, '%Y-%m-%d') END AS note
FROM counted
WHERE configured OR first_ts IS NOT NULL OR symbol IN (SELECT symbol FROM ingest_log WHERE dataset = {name})
ORDER BY symbol;

CREATE OR REPLACE VIEW {dataset.relation("coverage")} AS
SELECT * FROM {coverage_at}(date_trunc('hour', now() AT TIME ZONE 'UTC'), []::VARCHAR[], []::TIMESTAMP[],
                            []::BIGINT[]);
"""


def _bars(dataset: Dataset, bucket: str) -> str:
    interval = BUCKETS[bucket]
    return f"""
CREATE TABLE IF NOT EXISTS {rollup_table(dataset, bucket)} (
    symbol VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, open DOUBLE NOT NULL, high DOUBLE NOT NULL, low DOUBLE NOT NULL,
    close DOUBLE NOT NULL, volume DOUBLE NOT NULL, candles INTEGER NOT NULL
);

CREATE OR REPLACE VIEW {rollup_view(dataset, bucket)} AS
SELECT symbol, time_bucket({interval}, ts) AS ts, {BAR_COLUMNS}
FROM {dataset.view} GROUP BY symbol, time_bucket({interval}, ts);
"""
