"""A dataset's slots: the configured timeframe for spot candles, its own for a fixed cadence, refused by name for
intervals the venue states (not recorded yet)."""

import dataclasses

import pytest

from datafactory_assets.datasets import SPOT_CANDLES, Cadence
from datafactory_assets.datasets.slots import VenueCadenceError, slot_ms, slot_ms_sql, slots_per_hour


def test_spot_candles_count_at_the_instruments_configured_timeframe():
    assert (slot_ms(SPOT_CANDLES, 300_000), slots_per_hour(SPOT_CANDLES, 60_000)) == (300_000, 60)
    assert slot_ms_sql(SPOT_CANDLES, "s.timeframe_ms") == "s.timeframe_ms"


def test_a_fixed_cadence_counts_at_its_own_timeframe_whatever_the_instrument_is_configured_at():
    open_interest = dataclasses.replace(SPOT_CANDLES, name="oi", cadence=Cadence(fixed="5m"))
    assert (slot_ms(open_interest, 60_000), slots_per_hour(open_interest, 60_000)) == (300_000, 12)
    assert slot_ms_sql(open_interest, "s.timeframe_ms") == "300000"


def test_a_venue_stated_cadence_is_refused_by_name_rather_than_counted_at_a_width_it_does_not_have():
    funding = dataclasses.replace(SPOT_CANDLES, name="funding_rates", cadence=Cadence(venue_interval=True))
    with pytest.raises(VenueCadenceError, match="^funding_rates follows the intervals the venue states"):
        slots_per_hour(funding, 60_000)
    with pytest.raises(VenueCadenceError):
        slot_ms_sql(funding, "s.timeframe_ms")
