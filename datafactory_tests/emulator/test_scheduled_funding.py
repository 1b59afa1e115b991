"""Funding pages by scheduled time: an event at the bound is in, whatever its Binance stamp; the newest `limit`."""

from datafactory_assets.emulator import perp_series
from datafactory_assets.emulator.faults import AlteredStore
from datafactory_assets.emulator.scheduled_funding import newest_events
from datafactory_assets.emulator.store import CandleStore
from datafactory_tests.emulator.helpers import DAY, HOUR, T0

BTC = "BTC/USDT:USDT"
STORE = CandleStore(["BTC/USDT"], {})
MIDNIGHT = T0 // DAY * DAY + DAY


def test_an_event_scheduled_at_the_bound_is_in_even_when_its_binance_stamp_is_later():
    events = perp_series.funding_events(BTC, MIDNIGHT - 30 * DAY, MIDNIGHT + 1)
    late = events.filter(events["funding_ms"] > events["open_ms"])["open_ms"][-1]  # a lagged event exists
    page = newest_events(STORE, BTC, first_ms=0, last_ms=late, limit=3, now_ms=MIDNIGHT + 30 * DAY)
    assert page["open_ms"].to_list() == [late - 16 * HOUR, late - 8 * HOUR, late]
    assert page.equals(perp_series.funding_events(BTC, late - 16 * HOUR, late + 1))


def test_the_newest_limit_within_the_bounds_and_not_after_now():
    page = newest_events(STORE, BTC, first_ms=MIDNIGHT - HOUR, last_ms=None, limit=5, now_ms=MIDNIGHT + 9 * HOUR)
    assert page["open_ms"].to_list() == [MIDNIGHT, MIDNIGHT + 8 * HOUR]
    holed = AlteredStore(STORE, lambda _, frame, __: frame.head(0))
    assert newest_events(holed, BTC, first_ms=0, last_ms=MIDNIGHT, limit=5, now_ms=MIDNIGHT + DAY).is_empty()
