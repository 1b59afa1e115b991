"""A dataset's slots: the configured timeframe for spot candles, its own for a fixed cadence, and for intervals the
venue states, each row's own interval and the instrument's interval timeline (one number per hour refused by
name)."""

import dataclasses

from datetime import datetime

import duckdb
import pytest

from datafactory_assets.datasets import SPOT_CANDLES, Cadence
from datafactory_assets.datasets.funding_rates import FUNDING_RATES
from datafactory_assets.datasets.slots import (VenueCadenceError, slot_count_sql, slot_ms, slot_ms_sql,
                                               slots_per_hour)
from datafactory_assets.warehouse.schema import ensure_schema


def test_spot_candles_count_at_the_instruments_configured_timeframe():
    assert (slot_ms(SPOT_CANDLES, 300_000), slots_per_hour(SPOT_CANDLES, 60_000)) == (300_000, 60)
    assert slot_ms_sql(SPOT_CANDLES, "s.timeframe_ms") == "s.timeframe_ms"


def test_a_fixed_cadence_counts_at_its_own_timeframe_whatever_the_instrument_is_configured_at():
    open_interest = dataclasses.replace(SPOT_CANDLES, name="oi", cadence=Cadence(fixed="5m"))
    assert (slot_ms(open_interest, 60_000), slots_per_hour(open_interest, 60_000)) == (300_000, 12)
    assert slot_ms_sql(open_interest, "s.timeframe_ms") == "300000"


def test_a_venue_stated_cadence_has_no_width_per_hour_and_a_row_carries_its_own():
    with pytest.raises(VenueCadenceError, match="^funding_rates follows the intervals the venue states"):
        slots_per_hour(FUNDING_RATES, 60_000)
    assert slot_ms_sql(FUNDING_RATES, "s.timeframe_ms", row="c") == "c.interval_ms"
    assert slot_ms_sql(FUNDING_RATES, "s.timeframe_ms") == "NULL"


def test_slots_follow_the_interval_timeline_the_stored_events_record():
    """8 h events until 2025-01-15, 4 h from then on: a span counts each interval's multiples in it, the first
    interval reaching back before the first event, and an instrument with no events at Binance's default 8 h."""
    conn = duckdb.connect()
    ensure_schema(conn)
    events = [(datetime(2025, 1, 14, h), 8) for h in (0, 8, 16)] + [(datetime(2025, 1, 15, h), 4) for h in (0, 4, 8)]
    conn.executemany("INSERT INTO funding_rates (symbol, ts, rate, mark_price, interval_ms, venue_ts, source, "
                     "ingested_at) VALUES ('ETH/USDT:USDT', ?, 0.0001, NULL, ?, ?, 'binance', now())",
                     [(ts, hours * 3_600_000, ts) for ts, hours in events])

    def slots(symbol, first, stop):
        return conn.execute(f"SELECT {slot_count_sql(FUNDING_RATES, symbol='?', first='?', stop='?', width='NULL')}",
                            [symbol, first, stop]).fetchall()[0][0]

    assert conn.sql("SELECT since, interval_ms FROM funding_rates_intervals").fetchall() == [
        (datetime(2025, 1, 14), 28_800_000), (datetime(2025, 1, 15), 14_400_000)]
    assert slots("ETH/USDT:USDT", datetime(2025, 1, 13), datetime(2025, 1, 16)) == 6 + 6
    assert slots("ETH/USDT:USDT", datetime(2025, 1, 15, 1), datetime(2025, 1, 15, 2)) == 0
    assert slots("BTC/USDT:USDT", datetime(2025, 1, 13), datetime(2025, 1, 14)) == 3
