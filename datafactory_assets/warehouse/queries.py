"""Read-side queries the CLI, checks and tests share.

Each query over stored rows takes the dataset it reads (`dataset`, keyword-only, spot candles when not given) and
reads that dataset's generated views (`views`), and only its rows of the shared tables (`known_gaps.dataset`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl

from datafactory_assets.datasets import DATASETS, SPOT_CANDLES, Dataset
from datafactory_assets.hourly import open_hour
from datafactory_assets.settings import SymbolSettings
from datafactory_assets.warehouse.schema import require_current
from datafactory_assets.warehouse.views import CONFIRMATIONS_NEEDED


def coverage(conn: duckdb.DuckDBPyConnection, symbols: Sequence[SymbolSettings] = (), *,
             until: datetime | None = None, dataset: Dataset = SPOT_CANDLES) -> pl.DataFrame:
    """Per symbol, how much of what was asked for is held: candle slots from the configured start, or the listing
    when the venue began later (`counted_from`), to `until` (default: the last closed hour), split into stored
    `rows`, `confirmed_empty`, `missing` (a request covered them, nothing came) and `not_fetched` (no request did);
    `completeness_pct` counts stored and confirmed-empty slots. `symbols` (the configured ones) are listed even when
    never run, with their configured start; symbols stored but no longer configured follow with their recorded one.
    Slots are the dataset's (`datasets.slots`). One query over the whole warehouse (the dataset's `coverage_at`
    macro, which its `coverage` view also reads); SchemaError for a file older than that macro, opened read-only."""
    require_current(conn)
    until = open_hour() if until is None else until  # the end of the newest closed hour
    return conn.sql(
        f"SELECT * FROM {dataset.relation('coverage_at')}($until, $names::VARCHAR[], $starts::TIMESTAMP[], "
        "$timeframes::BIGINT[])",
        params={"until": until.replace(tzinfo=None), "names": [s.symbol for s in symbols],
                "starts": [s.start.replace(tzinfo=None) for s in symbols],
                "timeframes": [s.timeframe_ms for s in symbols]},
    ).pl()


def coverage_of_every_dataset(conn: duckdb.DuckDBPyConnection, symbols: Sequence[SymbolSettings], *,
                              until: datetime | None = None) -> pl.DataFrame:
    """`coverage` of each dataset over the symbols collecting it, one frame with the `dataset` first: the rows of a
    whole fill, spot candles and a perpetual's datasets alike (a perpetual's rows are never in spot candles'
    coverage, nor a spot pair in a perpetual dataset's)."""
    frames = [coverage(conn, [s for s in symbols if name in s.datasets], until=until, dataset=DATASETS[name])
              .select(pl.lit(name).alias("dataset"), pl.all())
              for name in dict.fromkeys(name for s in symbols for name in s.datasets)]
    return pl.concat(frames) if frames else coverage(conn, (), until=until).select(
        pl.lit(SPOT_CANDLES.name).alias("dataset"), pl.all())


@dataclass(frozen=True)
class Completeness:
    """The candle slots of some symbols by state, summed over `coverage` rows: what `datafactory status`, the coverage
    asset and `datafactory up`'s history line all report, so they agree."""

    expected: int
    rows: int
    confirmed_empty: int
    missing: int
    not_fetched: int

    @classmethod
    def of(cls, frame: pl.DataFrame) -> Completeness:
        return cls(*(int(frame[f.name].sum()) if frame.height else 0 for f in fields(cls)))

    @property
    def pct(self) -> float:
        """Held (stored or confirmed empty) of expected, in percent, never above 100; 100 when nothing is expected."""
        held = self.rows + self.confirmed_empty
        return min(round(100.0 * held / self.expected, 4), 100.0) if self.expected else 100.0

    def summary(self, unit: str = SPOT_CANDLES.unit) -> str:
        """One line with every state, so a reader sees what the percentage leaves out and why, counted in `unit`
        (the dataset's: `Dataset.unit`). An incomplete history never reads 100.0%: 240 candles short of 4,054,080
        did, rounded; it reads 99.9%."""
        shown = min(self.pct, 99.9) if self.rows + self.confirmed_empty < self.expected else self.pct
        return (f"{shown:.1f}% complete: {self.rows + self.confirmed_empty:,} of {self.expected:,} {unit}(s) held "
                f"({self.rows:,} stored, {self.confirmed_empty:,} confirmed empty), {self.missing:,} missing (asked, "
                f"not served), {self.not_fetched:,} not yet fetched")


def unit_of(frame: pl.DataFrame) -> str:
    """What a `Completeness` of these `coverage_of_every_dataset` rows counts: their dataset's unit
    (`Dataset.unit`: candles, funding events, ...), or rows when they are several datasets' (a whole fill's funding
    events and open-interest readings are not candles)."""
    names = set(frame["dataset"]) or {SPOT_CANDLES.name}
    return DATASETS[names.pop()].unit if len(names) == 1 else "row"


def source_health(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per source over the last 24 hours: requests, success rate, p50/p95/max latency, errors, last error."""
    return conn.sql("SELECT * FROM source_health").pl()


def source_health_hourly(conn: duckdb.DuckDBPyConnection, hour: datetime | None = None) -> pl.DataFrame:
    """Per source and hour (UTC): requests, success rate, p50/p95/max latency, errors and their classes; one hour's
    rows when `hour` is given, else every hour, newest first."""
    if hour is None:
        return conn.sql("SELECT * FROM source_health_hourly ORDER BY hour DESC, source").pl()
    return conn.sql("SELECT * FROM source_health_hourly WHERE hour = ? ORDER BY source",
                    params=[hour.replace(tzinfo=None)]).pl()


def gaps(conn: duckdb.DuckDBPyConnection, symbol: str | None = None, *,
         dataset: Dataset = SPOT_CANDLES) -> pl.DataFrame:
    """Missing ranges (inclusive first/last missing open time) of the dataset's rows with how many of their slots
    every source confirmed empty, optionally for one symbol."""
    view = dataset.relation("gap_status")
    if symbol is None:
        return conn.sql(f"SELECT * FROM {view} ORDER BY symbol, first_missing").pl()
    return conn.sql(f"SELECT * FROM {view} WHERE symbol = ? ORDER BY first_missing", params=[symbol]).pl()


# Each asked symbol's span for healing: from its start, or its listing's hour when later, to `until`, or the end of
# its delisting's hour when earlier (the `asked` CTE before it holds symbol and start).
_WANTED = """wanted AS (
            SELECT a.* EXCLUDE (start), s.listed_ts, s.delisted_ts,
                   greatest(a.start, coalesce(time_bucket(INTERVAL 1 HOUR, s.listed_ts), a.start)) AS start,
                   least($until, coalesce(time_bucket(INTERVAL 1 HOUR, s.delisted_ts - INTERVAL 1 MICROSECOND)
                                          + INTERVAL 1 HOUR, $until)) AS until
            FROM asked a LEFT JOIN symbols s USING (symbol)
        )"""


def incomplete_ranges(conn: duckdb.DuckDBPyConnection, symbols: Sequence[tuple[str, datetime, int]], *,
                      until: datetime, dataset: Dataset = SPOT_CANDLES) -> dict[str, list[tuple[datetime, datetime]]]:
    """Per symbol of `symbols` (symbol, start, rows of the dataset a complete hour holds: `slots.slots_per_hour`),
    the ranges `[first, stop)` of hours in [start, until) holding fewer candles once confirmed holes are counted as
    held: missing, failed or cut short, and still worth asking a source for. Hours before the pair's listing
    (`symbols.listed_ts`, when a run found the pair began after `start`) and after its delisting
    (`symbols.delisted_ts`) are never asked for. Naive UTC hour starts, oldest first; every symbol has an entry.

    One query for the whole universe: complete hours are grouped into islands (consecutive hours), and the gaps
    between islands, before the first and after the last, are the answer, so no hour is listed one by one."""
    ranges: dict[str, list[tuple[datetime, datetime]]] = {symbol: [] for symbol, _, _ in symbols}
    if not symbols:
        return ranges
    names, starts, per_hour = zip(*symbols, strict=True)
    rows = conn.execute(
        f"""
        WITH asked AS (
            SELECT unnest($names) AS symbol, unnest($starts)::TIMESTAMP AS start, unnest($per_hour) AS per_hour
        ), {_WANTED}, held AS (
            SELECT symbol, time_bucket(INTERVAL 1 HOUR, ts) AS hour, count(*) AS n FROM {dataset.view}
            WHERE symbol IN (SELECT symbol FROM wanted) AND ts < $until GROUP BY ALL
            UNION ALL
            SELECT symbol, time_bucket(INTERVAL 1 HOUR, ts) AS hour, count(*) AS n FROM known_gaps
            WHERE dataset = $dataset AND symbol IN (SELECT symbol FROM wanted) AND ts < $until
                AND confirmations >= $needed GROUP BY ALL
            UNION ALL  -- the minutes of the listing hour before the listing: no venue will ever have them
            SELECT symbol, time_bucket(INTERVAL 1 HOUR, listed_ts) AS hour,
                   (epoch_ms(listed_ts) - epoch_ms(time_bucket(INTERVAL 1 HOUR, listed_ts))) * per_hour // 3600000
            FROM wanted WHERE listed_ts IS NOT NULL
            UNION ALL  -- the minutes of the delisting hour after the delisting: no venue will ever have them
            SELECT symbol, time_bucket(INTERVAL 1 HOUR, delisted_ts) AS hour,
                   (epoch_ms(time_bucket(INTERVAL 1 HOUR, delisted_ts)) + 3600000 - epoch_ms(delisted_ts)) * per_hour
                   // 3600000
            FROM wanted WHERE delisted_ts IS NOT NULL AND delisted_ts > time_bucket(INTERVAL 1 HOUR, delisted_ts)
        ), complete AS (
            SELECT h.symbol, h.hour FROM held h JOIN wanted w USING (symbol)
            WHERE h.hour >= w.start GROUP BY h.symbol, h.hour, w.per_hour HAVING sum(h.n) >= w.per_hour
        ), islands AS (
            SELECT symbol, min(hour) AS first, max(hour) + INTERVAL 1 HOUR AS stop FROM (
                SELECT symbol, hour,
                       hour - to_hours(row_number() OVER (PARTITION BY symbol ORDER BY hour)) AS island
                FROM complete)
            GROUP BY symbol, island
        ), gaps AS (
            SELECT symbol, lag(stop) OVER (PARTITION BY symbol ORDER BY first) AS first, first AS stop FROM islands
            UNION ALL
            SELECT w.symbol, (SELECT max(i.stop) FROM islands i WHERE i.symbol = w.symbol), w.until FROM wanted w
        )
        SELECT g.symbol, coalesce(g.first, w.start) AS first, least(g.stop, w.until) AS stop
        FROM gaps g JOIN wanted w USING (symbol)
        WHERE coalesce(g.first, w.start) < least(g.stop, w.until)
        ORDER BY g.symbol, first
        """,
        {"names": list(names), "starts": [s.replace(tzinfo=None) for s in starts], "per_hour": list(per_hour),
         "until": until.replace(tzinfo=None), "needed": CONFIRMATIONS_NEEDED, "dataset": dataset.name},
    ).fetchall()
    return _by_symbol(ranges, rows)


def incomplete_event_ranges(conn: duckdb.DuckDBPyConnection, symbols: Sequence[tuple[str, datetime]], *,
                            until: datetime, dataset: Dataset) -> dict[str, list[tuple[datetime, datetime]]]:
    """`incomplete_ranges` for a dataset whose rows come at intervals the venue states per instrument (funding),
    per symbol of `symbols` (symbol, start): the hours in [start, until) holding an event due on the instrument's
    interval timeline (the dataset's `<name>_intervals` view: each interval's multiples from the stored event it took
    effect at to the next change, the last one up to `until`) that is neither stored nor confirmed empty
    (`known_gaps`), between the listing and the delisting as there. An hour with no event due is complete.

    Before an instrument's first stored event its interval is not known (no venue states past intervals, and the
    timeline starts at that event), so the whole span from start to that event's hour is asked for, as is the whole
    span of an instrument with nothing stored: a run over a range fetches it whole at a request per 1000 events at
    Binance, where asking hour by hour at a guessed interval would cost a run per event and miss the events of any
    other interval. One query for the whole universe, as there."""
    ranges: dict[str, list[tuple[datetime, datetime]]] = {symbol: [] for symbol, _ in symbols}
    if not symbols:
        return ranges
    names, starts = zip(*symbols, strict=True)
    rows = conn.execute(
        f"""
        WITH asked AS (
            SELECT unnest($names) AS symbol, unnest($starts)::TIMESTAMP AS start
        ), {_WANTED}, timeline AS (
            SELECT i.symbol, i.since, i.interval_ms, least(coalesce(i.until, w.until), w.until) AS stop
            FROM {dataset.relation("intervals")} i JOIN wanted w USING (symbol)
        ), due AS (
            SELECT symbol, unnest(range(since, stop, to_milliseconds(interval_ms))) AS ts FROM timeline
        ), missing AS (
            SELECT DISTINCT d.symbol, time_bucket(INTERVAL 1 HOUR, d.ts) AS hour FROM due d JOIN wanted w USING (symbol)
            WHERE d.ts >= w.start AND d.ts >= coalesce(w.listed_ts, d.ts) AND d.ts < coalesce(w.delisted_ts, w.until)
                AND NOT EXISTS (SELECT 1 FROM {dataset.view} e WHERE e.symbol = d.symbol AND e.ts = d.ts)
                AND NOT EXISTS (SELECT 1 FROM known_gaps k WHERE k.dataset = $dataset AND k.symbol = d.symbol
                                AND k.ts = d.ts AND k.confirmations >= $needed)
        ), unknown AS (  -- before the first stored event: its interval is not known (events fall on whole hours,
                         -- so none is due in a listing hour after its start)
            SELECT w.symbol, CASE WHEN w.listed_ts > w.start THEN w.start + INTERVAL 1 HOUR ELSE w.start END AS first,
                   least(w.until, coalesce(time_bucket(INTERVAL 1 HOUR, f.since), w.until)) AS stop
            FROM wanted w LEFT JOIN (SELECT symbol, min(since) AS since FROM timeline GROUP BY symbol) f
                USING (symbol)
        )
        SELECT symbol, min(hour) AS first, max(hour) + INTERVAL 1 HOUR AS stop FROM (
            SELECT symbol, hour, hour - to_hours(row_number() OVER (PARTITION BY symbol ORDER BY hour)) AS island
            FROM missing)
        GROUP BY symbol, island
        UNION ALL
        SELECT symbol, first, stop FROM unknown WHERE first < stop
        ORDER BY symbol, first
        """,
        {"names": list(names), "starts": [s.replace(tzinfo=None) for s in starts],
         "until": until.replace(tzinfo=None), "needed": CONFIRMATIONS_NEEDED, "dataset": dataset.name},
    ).fetchall()
    return _by_symbol(ranges, rows)


def _by_symbol(ranges: dict[str, list[tuple[datetime, datetime]]],
               rows: list[tuple[str, datetime, datetime]]) -> dict[str, list[tuple[datetime, datetime]]]:
    """`ranges` (every symbol asked, empty) with the query's (symbol, first, stop) rows added."""
    for symbol, first, stop in rows:
        ranges[symbol].append((first, stop))
    return ranges


def delistings(conn: duckdb.DuckDBPyConnection, symbols: Sequence[str]) -> dict[str, datetime]:
    """Of `symbols`, those a venue delisted, and when their last candle closed (`symbols.delisted_ts`); SchemaError
    for a file older than that column, opened read-only."""
    require_current(conn)
    rows = conn.execute("SELECT symbol, delisted_ts FROM symbols WHERE delisted_ts IS NOT NULL AND symbol IN "
                        "(SELECT unnest($names))", {"names": list(symbols)}).fetchall()
    return dict(rows)


def incomplete_hours(conn: duckdb.DuckDBPyConnection, symbol: str, *, start: datetime, until: datetime,
                     per_hour: int, dataset: Dataset = SPOT_CANDLES) -> list[datetime]:
    """The hours of `incomplete_ranges` for one symbol, one by one, oldest first."""
    return [first + timedelta(hours=i)
            for first, stop in incomplete_ranges(conn, [(symbol, start, per_hour)], until=until,
                                                 dataset=dataset)[symbol]
            for i in range((stop - first) // timedelta(hours=1))]


def confirmed_holes(conn: duckdb.DuckDBPyConnection, symbol: str, start: datetime, end: datetime, *,
                    dataset: Dataset = SPOT_CANDLES) -> int:
    """How many open times of [start, end) every source has confirmed empty, often enough to stop asking."""
    return conn.execute(
        "SELECT count(*) FROM known_gaps WHERE dataset = ? AND symbol = ? AND ts >= ? AND ts < ? "
        "AND confirmations >= ?",
        [dataset.name, symbol, start.replace(tzinfo=None), end.replace(tzinfo=None), CONFIRMATIONS_NEEDED],
    ).fetchall()[0][0]


def window_candles(conn: duckdb.DuckDBPyConnection, symbol: str, start: datetime, end: datetime, *,
                   dataset: Dataset = SPOT_CANDLES, skip: tuple[datetime, datetime] | None = None) -> pl.DataFrame:
    """The stored rows of one symbol with open time in [start, end), oldest first; with `skip`, none of those with
    open time in [skip[0], skip[1]] (rows the caller holds already)."""
    skipped = "AND ts NOT BETWEEN ? AND ?" if skip else ""
    return conn.sql(
        f"SELECT * FROM {dataset.view} WHERE symbol = ? AND ts >= ? AND ts < ? {skipped} ORDER BY ts",
        params=[symbol, start.replace(tzinfo=None), end.replace(tzinfo=None),
                *[moment.replace(tzinfo=None) for moment in skip or ()]],
    ).pl()


def stored_candles(conn: duckdb.DuckDBPyConnection, spans: Sequence[tuple[str, datetime, datetime]], *,
                   dataset: Dataset = SPOT_CANDLES) -> dict[str, int]:
    """Per symbol of `spans` (symbol, start, until), how many of its rows of the dataset are stored (table or
    archive) with open time in [start, until); one query for all of them."""
    counts = {symbol: 0 for symbol, _, _ in spans}
    if not spans:
        return counts
    names, starts, untils = zip(*spans, strict=True)
    rows = conn.execute(
        f"""
        WITH wanted AS (SELECT unnest($names) AS symbol, unnest($starts)::TIMESTAMP AS start,
                               unnest($untils)::TIMESTAMP AS until)
        SELECT c.symbol, count(*) FROM {dataset.view} c JOIN wanted w USING (symbol)
        WHERE c.ts >= w.start AND c.ts < w.until GROUP BY c.symbol
        """,
        {"names": list(names), "starts": [s.replace(tzinfo=None) for s in starts],
         "untils": [u.replace(tzinfo=None) for u in untils]},
    ).fetchall()
    counts.update(dict(rows))
    return counts


def revisions(conn: duckdb.DuckDBPyConnection, *, symbol: str | None = None, since: datetime | None = None,
              dataset: Dataset = SPOT_CANDLES) -> pl.DataFrame:
    """Stored rows of the dataset later replaced with other values, newest revision first: when, the symbol, the
    row's other keys (`ts`), old and new source, old and new of each value column (`dataset.values`) and the run;
    `since` bounds when they were revised. Empty for a file written before its revisions table existed (read-only
    opens do not upgrade it)."""
    table = dataset.revisions_table
    if not conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                        [table]).fetchall()[0][0]:
        return pl.DataFrame()
    values = ", ".join(f"old_{c}, new_{c}" for c in dataset.values)
    return conn.sql(
        f"SELECT revised_at, symbol, {', '.join(dataset.row_keys)}, old_source, new_source, {values}, run_id "
        f"FROM {table} WHERE (?::VARCHAR IS NULL OR symbol = ?) AND (?::TIMESTAMP IS NULL OR revised_at >= ?) "
        f"ORDER BY revised_at DESC, symbol, {', '.join(dataset.row_keys)}",
        params=[symbol, symbol, *[_naive_utc(since) if since else None] * 2],
    ).pl()


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def fresh_database_path(directory: Path, now: datetime) -> Path:
    """`crypto_data_YYYYMMDD_HHMMSS.duckdb` in `directory`, the seed's name for a brand-new database."""
    return directory / f"crypto_data_{now:%Y%m%d_%H%M%S}.duckdb"


def window_venue_symbols(conn: duckdb.DuckDBPyConnection, symbol: str, start: datetime, end: datetime, *,
                         dataset: Dataset = SPOT_CANDLES) -> pl.DataFrame:
    """`window_candles` with the venue symbol each row came from (`venue_symbol`): for a renamed instrument the one
    the newest write covering it recorded (`venue_symbols`), else the instrument's own."""
    return conn.sql(
        f"""SELECT c.*, coalesce((SELECT v.venue_symbol FROM venue_symbols v
                                  WHERE v.dataset = ? AND v.symbol = c.symbol AND c.ts BETWEEN v.first_ts AND v.last_ts
                                  ORDER BY v.recorded_at DESC LIMIT 1), c.symbol) AS venue_symbol
            FROM {dataset.view} c WHERE c.symbol = ? AND c.ts >= ? AND c.ts < ? ORDER BY c.ts""",
        params=[dataset.name, symbol, start.replace(tzinfo=None), end.replace(tzinfo=None)],
    ).pl()
