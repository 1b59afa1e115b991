"""Funding events paged by time from each venue through the real ccxt client against the emulator."""

from datetime import UTC, datetime, timedelta

import pytest

from datafactory_assets.datasets import DATASETS
from datafactory_assets.emulator.perp_series import funding_events
from datafactory_tests.helpers import ms

FUNDING = DATASETS["funding_rates"]
H = 3_600_000


@pytest.mark.parametrize("venue", ["binance", "okx", "bybit"])
def test_a_window_wider_than_a_page_comes_whole_and_logs_only_its_own_part(venue, sources, emulator):
    end = (datetime.now(UTC) - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=80)  # 240 events: more than one OKX (100) or Bybit (200) page
    result = sources.client(venue, "swap").fetch_range("BTC/USDT:USDT", start=start, end=end, timeframe=None,
                                                       dataset=FUNDING)
    want = funding_events("BTC/USDT:USDT", ms(start), ms(end))
    assert result.frame["ts"].dt.epoch("ms").to_list() == want["open_ms"].to_list() and result.frame.height == 240
    assert result.frame["rate"].to_list() == want["rate"].to_list()
    assert set(result.frame["interval_ms"]) == {8 * H} and set(result.frame["source"]) == {venue}
    pages = {"binance": 1, "okx": 3, "bybit": 2}[venue]
    assert len(result.requests) == pages
    assert min(r.window_start for r in result.requests) == start.replace(tzinfo=None)
    assert max(r.window_end for r in result.requests) == end.replace(tzinfo=None)


def test_an_hour_with_no_event_due_is_served_empty_and_vouched_for_by_the_schedule_around_it(sources):
    start = datetime(2025, 6, 2, 3, tzinfo=UTC)
    result = sources.client("binance", "swap").fetch_range("BTC/USDT:USDT", start=start,
                                                           end=start + timedelta(hours=1), timeframe=None,
                                                           dataset=FUNDING)
    assert result.frame.is_empty()
    assert result.spans() == [(datetime(2025, 6, 1, 8), datetime(2025, 6, 3))]
