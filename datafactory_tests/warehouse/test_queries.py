"""The incomplete-hour ranges healing asks for, for many symbols in one query, against a real DuckDB file."""

from datetime import datetime, timedelta

import duckdb

from datafactory_assets.settings import SymbolSettings
from datafactory_assets.warehouse import queries

H0 = datetime(2025, 1, 1)


def hour(offset: int) -> datetime:
    return H0 + timedelta(hours=offset)


def store_minutes(conn, symbol: str, first: datetime, minutes: int) -> None:
    conn.execute("INSERT INTO candles SELECT ?, ts, 1, 1, 1, 1, 1, 'binance', now() "
                 "FROM range(?::TIMESTAMP, ?::TIMESTAMP, INTERVAL 1 MINUTE) AS r(ts)",
                 [symbol, first, first + timedelta(minutes=minutes)])


def test_ranges_of_incomplete_hours_for_every_symbol_in_one_query(warehouse):
    with warehouse.connect() as conn:
        store_minutes(conn, "BTC/USDT", hour(-5), 60 * 5)  # before its start: ignored
        store_minutes(conn, "BTC/USDT", hour(2), 60 * 3)  # hours 2-4 complete
        store_minutes(conn, "BTC/USDT", hour(6), 59)  # hour 6 one candle short ...
        store_minutes(conn, "BTC/USDT", hour(7), 60)  # hour 7 complete
        store_minutes(conn, "ETH/USDT", hour(1), 58)  # hour 1 two short, both confirmed holes
        conn.execute("INSERT INTO known_gaps (symbol, ts, confirmed_at, sources, confirmations) "
                     "VALUES ('ETH/USDT', ?, now(), 'binance', 2), ('ETH/USDT', ?, now(), 'binance', 2)",
                     [hour(1) + timedelta(minutes=58), hour(1) + timedelta(minutes=59)])
        store_minutes(conn, "SOL/USDT", hour(0), 60 * 10)  # complete up to the end and beyond
        ranges = queries.incomplete_ranges(conn, [("BTC/USDT", hour(0), 60), ("ETH/USDT", hour(1), 60),
                                                  ("SOL/USDT", hour(0), 60), ("ADA/USDT", hour(3), 60),
                                                  ("XRP/USDT", hour(9), 60)], until=hour(9))
        assert queries.incomplete_hours(conn, "BTC/USDT", start=hour(0), until=hour(9), per_hour=60) == [
            hour(0), hour(1), hour(5), hour(6), hour(8)]
    assert ranges == {
        "BTC/USDT": [(hour(0), hour(2)), (hour(5), hour(7)), (hour(8), hour(9))],
        "ETH/USDT": [(hour(2), hour(9))],  # hour 1 is whole once its confirmed holes count as held
        "SOL/USDT": [],
        "ADA/USDT": [(hour(3), hour(9))],  # nothing stored: its whole span
        "XRP/USDT": [],  # starts at the end: nothing to ask for
    }


def test_coverage_puts_every_slot_in_exactly_one_state_whatever_the_request_windows(warehouse):
    """Request windows, candles, holes, listings and delistings at arbitrary minutes (island edges inside hours,
    overlapping and adjacent windows, a listing before and after the start, a delisting before and after the end):
    each symbol's counts equal a minute-by-minute
    count of the same sets."""
    import random
    from datetime import UTC

    rnd, minute = random.Random(9), timedelta(minutes=1)
    until = hour(10)
    with warehouse.connect() as conn:
        truth = {}
        for n in range(12):
            symbol, start = f"S{n}/USDT", hour(rnd.randint(0, 2))
            listed = start + rnd.randint(-100, 200) * minute if n % 2 else None
            delisted = H0 + rnd.randint(300, 800) * minute if n % 3 == 0 else None
            conn.execute("INSERT INTO symbols (symbol, timeframe_ms, start_ts, listed_ts, delisted_ts) "
                         "VALUES (?, 60000, ?, ?, ?)", [symbol, start, listed, delisted])
            stored = {rnd.randint(0, 700) for _ in range(rnd.randint(0, 400))}
            holes = {m: rnd.choice([1, 2]) for m in {rnd.randint(0, 700) for _ in range(40)} - stored}
            windows = [(a, a + rnd.randint(1, 150)) for a in (rnd.randint(0, 700) for _ in range(rnd.randint(0, 9)))]
            for sql, rows in [("INSERT INTO candles VALUES (?, ?, 1, 1, 1, 1, 1, 'binance', now())",
                               [[symbol, H0 + m * minute] for m in stored]),
                              ("INSERT INTO known_gaps (symbol, ts, confirmed_at, sources, confirmations) "
                               "VALUES (?, ?, now(), 'binance', ?)",
                               [[symbol, H0 + m * minute, c] for m, c in holes.items()]),
                              ("INSERT INTO ingest_log (requested_at, source, symbol, window_start, window_end, rows, "
                               "latency_ms, outcome, error_class, run_id) "
                               "VALUES (now(), 'binance', ?, ?, ?, 0, 1, 'ok', NULL, 'r')",
                               [[symbol, H0 + a * minute, H0 + b * minute] for a, b in windows])]:
                if rows:
                    conn.executemany(sql, rows)
            first = (max(start, listed) if listed else start) - H0
            last = min(until, delisted) if delisted else until
            slots = set(range(first // minute, (last - H0) // minute))
            confirmed = {m for m, c in holes.items() if c >= 2}
            asked = {m for a, b in windows for m in range(a, b)}
            held = (stored | confirmed) & slots
            truth[symbol] = (len(slots), len(stored & slots), len(confirmed & slots), len((asked & slots) - held),
                             len(slots - held - asked), "listing" if listed and listed > start else "start")
        frame = queries.coverage(conn, until=until.replace(tzinfo=UTC))
    counted = {row[0]: row[1:] for row in frame.select("symbol", "expected", "rows", "confirmed_empty", "missing",
                                                       "not_fetched", "counted_from").iter_rows()}
    assert counted == truth


def test_the_summary_never_rounds_up_to_complete():
    """The last closed hour of four symbols not yet fetched (it is left to the hourly schedule for 15 minutes)."""
    from datafactory_assets.warehouse.queries import Completeness

    assert Completeness(4_054_080, 4_053_840, 0, 0, 240).summary().startswith("99.9% complete: 4,053,840 of ")
    assert Completeness(100, 90, 10, 0, 0).summary().startswith("100.0% complete")


def test_the_coverage_of_every_dataset_counts_a_perpetuals_rows_in_its_own_datasets(warehouse):
    from datetime import UTC

    from datafactory_assets.settings import SymbolSettings

    start = H0.replace(tzinfo=UTC)
    spot = SymbolSettings(symbol="BTC/USDT", timeframe="1m", start=start, sources=("binance",))
    perp = SymbolSettings(symbol="BTC/USDT:USDT", timeframe="1m", start=start, sources=("binance",),
                          datasets=("perp_candles", "mark_candles"))
    with warehouse.connect() as conn:
        store_minutes(conn, "BTC/USDT", hour(0), 60)
        for table, minutes in [("perp_candles", 120), ("mark_candles", 30)]:
            conn.execute(f"INSERT INTO {table} SELECT 'BTC/USDT:USDT', ts, 1, 1, 1, 1, 0, 'binance', now() "
                         "FROM range(?::TIMESTAMP, ?::TIMESTAMP, INTERVAL 1 MINUTE) AS r(ts)",
                         [hour(0), hour(0) + timedelta(minutes=minutes)])
        frame = queries.coverage_of_every_dataset(conn, [spot, perp], until=hour(2))
    assert sorted(zip(frame["symbol"], frame["rows"], strict=True)) == [
        ("BTC/USDT", 60), ("BTC/USDT:USDT", 30), ("BTC/USDT:USDT", 120)]
    history = queries.Completeness.of(frame)
    assert (history.rows, history.expected) == (210, 360)


def test_a_summary_counts_in_its_datasets_unit_and_in_rows_over_several(warehouse):
    """Before, every summary said candle(s): a fill's funding events and open-interest readings among them."""
    from datetime import UTC

    from datafactory_assets.settings import SymbolSettings

    start = H0.replace(tzinfo=UTC)
    spot = SymbolSettings(symbol="BTC/USDT", timeframe="1m", start=start, sources=("binance",))
    funding = SymbolSettings(symbol="BTC/USDT:USDT", timeframe="1m", start=start, sources=("binance",),
                             datasets=("funding_rates",))
    both = SymbolSettings(symbol="ETH/USDT:USDT", timeframe="1m", start=start, sources=("binance",),
                          datasets=("open_interest", "perp_candles"))
    with warehouse.connect() as conn:
        units = [queries.unit_of(queries.coverage_of_every_dataset(conn, symbols, until=hour(2)))
                 for symbols in ([spot], [funding], [both], [spot, funding], [])]
    assert units == ["candle", "funding event", "row", "row", "candle"]
    assert queries.Completeness(12, 6, 0, 0, 6).summary("open-interest reading") == (
        "50.0% complete: 6 of 12 open-interest reading(s) held (6 stored, 0 confirmed empty), 0 missing (asked, not "
        "served), 6 not yet fetched")


def test_coverage_streams_the_held_candles_instead_of_copying_them(warehouse):
    """(b)'s two million candles are counted within 48 MB of DuckDB memory, with spilling to disk off: a copy of the
    held candles (DuckDB materializes a CTE read twice, about 32 bytes a candle) needed more than 64 MB, and at 16M
    candles made `datafactory up`'s history line peak at 704 MB."""
    with warehouse.connect() as conn:
        conn.execute("INSERT INTO candles SELECT 'S' || (i % 200) || '/USDT', ?::TIMESTAMP + to_minutes(i // 200), "
                     "1, 1, 1, 1, 1, 'binance', now() FROM range(200 * 7 * 1440) AS r(i)", [H0])
    symbols = [SymbolSettings(symbol=f"S{n}/USDT", timeframe="1m", start=H0, sources=("binance",)) for n in range(200)]
    config = {"memory_limit": "48MB", "temp_directory": "", "threads": 1}
    with duckdb.connect(warehouse.path, read_only=True, config=config) as conn:
        frame = queries.coverage(conn, symbols, until=H0 + timedelta(days=7))
    assert frame["rows"].sum() == frame["expected"].sum() == 200 * 7 * 1440
