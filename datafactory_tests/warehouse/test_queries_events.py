"""The incomplete hours healing asks for of a dataset at the venue's own intervals (funding), against a real DuckDB
file: hours with a due event neither stored nor confirmed empty, over each instrument's interval timeline."""

from datetime import datetime, timedelta

from datafactory_assets.datasets import FUNDING_RATES
from datafactory_assets.warehouse import queries

H0 = datetime(2025, 1, 14)
HOUR_MS = 3_600_000


def hour(offset: int) -> datetime:
    return H0 + timedelta(hours=offset)


def store_events(conn, symbol: str, events: list[tuple[int, int]]) -> None:
    """(hour offset, interval in hours to the next event) per event, as a run stores them."""
    conn.executemany("INSERT INTO funding_rates (symbol, ts, rate, mark_price, interval_ms, venue_ts, source, "
                     "ingested_at) VALUES (?, ?, 0.0001, NULL, ?, ?, 'binance', now())",
                     [(symbol, hour(h), hours * HOUR_MS, hour(h)) for h, hours in events])


def confirm_hole(conn, symbol: str, at: datetime, *, confirmations: int) -> None:
    conn.execute("INSERT INTO known_gaps (dataset, symbol, ts, confirmed_at, sources, confirmations) "
                 "VALUES ('funding_rates', ?, ?, now(), 'binance', ?)", [symbol, at, confirmations])


def incomplete(conn, symbols: list[tuple[str, int]], *, until: int) -> dict[str, list[tuple[datetime, datetime]]]:
    return queries.incomplete_event_ranges(conn, [(s, hour(h)) for s, h in symbols], until=hour(until),
                                           dataset=FUNDING_RATES)


def test_one_missing_event_in_the_middle_is_asked_for_as_exactly_its_hour(warehouse):
    with warehouse.connect() as conn:
        store_events(conn, "BTC/USDT:USDT", [(h, 8) for h in (0, 8, 24, 32, 40)])  # 16 h lost
        assert incomplete(conn, [("BTC/USDT:USDT", 0)], until=48) == {"BTC/USDT:USDT": [(hour(16), hour(17))]}


def test_an_8h_to_4h_change_with_every_event_stored_asks_for_nothing_and_a_lost_4h_event_its_hour(warehouse):
    with warehouse.connect() as conn:
        store_events(conn, "ETH/USDT:USDT", [(0, 8), (8, 8), (16, 8)] + [(h, 4) for h in range(24, 48, 4)])
        store_events(conn, "SOL/USDT:USDT", [(0, 8), (8, 8), (16, 8)] + [(h, 4) for h in (24, 32, 36, 40, 44)])
        assert incomplete(conn, [("ETH/USDT:USDT", 0), ("SOL/USDT:USDT", 0)], until=48) == {
            "ETH/USDT:USDT": [],  # hours 1-7, 9-15, ... and 25-27, ... hold no due event: complete
            "SOL/USDT:USDT": [(hour(28), hour(29))],  # due at the 4 h interval in force since 24 h
        }


def test_a_confirmed_hole_is_not_asked_for_and_one_seen_once_still_is(warehouse):
    with warehouse.connect() as conn:
        store_events(conn, "BTC/USDT:USDT", [(h, 8) for h in (0, 8, 24)])  # 16 h lost
        store_events(conn, "ETH/USDT:USDT", [(h, 8) for h in (0, 8, 24)])  # 16 h lost
        confirm_hole(conn, "BTC/USDT:USDT", hour(16), confirmations=2)
        confirm_hole(conn, "ETH/USDT:USDT", hour(16), confirmations=1)
        assert incomplete(conn, [("BTC/USDT:USDT", 0), ("ETH/USDT:USDT", 0)], until=32) == {
            "BTC/USDT:USDT": [], "ETH/USDT:USDT": [(hour(16), hour(17))]}


def test_before_the_first_stored_event_the_whole_span_is_asked_for(warehouse):
    with warehouse.connect() as conn:
        store_events(conn, "BTC/USDT:USDT", [(h, 8) for h in (24, 32)])
        store_events(conn, "ETH/USDT:USDT", [(h, 8) for h in (-8, 0, 8)])  # before its start, then 16 h lost
        assert incomplete(conn, [("BTC/USDT:USDT", 0), ("ETH/USDT:USDT", 0), ("SOL/USDT:USDT", 3)], until=40) == {
            "BTC/USDT:USDT": [(hour(0), hour(24))],  # its interval before 24 h is not known: the whole span
            "ETH/USDT:USDT": [(hour(16), hour(17)), (hour(24), hour(25)), (hour(32), hour(33))],
            "SOL/USDT:USDT": [(hour(3), hour(40))],  # nothing stored: its whole span
        }


def test_nothing_before_the_listing_or_after_the_delisting_is_asked_for(warehouse):
    with warehouse.connect() as conn:
        conn.execute("INSERT INTO symbols (symbol, timeframe_ms, start_ts, listed_ts, delisted_ts) VALUES "
                     "('OLD/USDT:USDT', 60000, ?, NULL, ?), ('NEW/USDT:USDT', 60000, ?, ?, NULL)",
                     [hour(0), hour(20) + timedelta(minutes=30), hour(0), hour(7) + timedelta(minutes=30)])
        store_events(conn, "OLD/USDT:USDT", [(0, 8), (8, 8)])  # 16 h lost before the delisting, 24 h due after it
        store_events(conn, "NEW/USDT:USDT", [(8, 8), (16, 8)])  # listed at 7:30: its listing hour holds no event
        assert incomplete(conn, [("OLD/USDT:USDT", 0), ("NEW/USDT:USDT", 0)], until=40) == {
            "OLD/USDT:USDT": [(hour(16), hour(17))], "NEW/USDT:USDT": [(hour(24), hour(25)), (hour(32), hour(33))]}


def test_coverage_counts_each_instruments_asked_events_on_its_own_timeline(warehouse):
    """Two instruments of different intervals, every due event of the asked window stored: nothing is missing. (The
    slots macro was once handed a bare `symbol`, which bound inside it: each instrument was asked both's events.)"""
    from datafactory_assets.settings import SymbolSettings

    with warehouse.connect() as conn:
        store_events(conn, "BTC/USDT:USDT", [(h, 8) for h in range(0, 48, 8)])
        store_events(conn, "ETH/USDT:USDT", [(h, 4) for h in range(0, 48, 4)])
        conn.executemany("INSERT INTO ingest_log (requested_at, source, symbol, window_start, window_end, rows, "
                         "latency_ms, outcome, dataset) VALUES (now(), 'binance', ?, ?, ?, ?, 1.0, 'ok', "
                         "'funding_rates')", [("BTC/USDT:USDT", hour(0), hour(48), 6),
                                              ("ETH/USDT:USDT", hour(0), hour(48), 12)])
        symbols = [SymbolSettings(symbol=s, timeframe="1m", start=hour(0), sources=("binance",))
                   for s in ("BTC/USDT:USDT", "ETH/USDT:USDT")]
        coverage = queries.coverage(conn, symbols, until=hour(48), dataset=FUNDING_RATES)
    assert coverage.select("symbol", "expected", "rows", "missing", "not_fetched").rows() == [
        ("BTC/USDT:USDT", 6, 6, 0, 0), ("ETH/USDT:USDT", 12, 12, 0, 0)]
