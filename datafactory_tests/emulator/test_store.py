"""Page selection and finality: what may be cached is exactly what can never change."""

import time

import polars as pl
import pytest

from datafactory_assets.emulator.candles import SCHEMA
from datafactory_assets.emulator.store import CandleStore

MINUTE = 60_000
T0 = 1_709_287_200_000  # 2024-03-01T10:00Z


@pytest.fixture
def store():
    replayed = pl.DataFrame([(T0, 1.0, 2.0, 0.5, 1.5, 3.0), (T0 + 2 * MINUTE, 1.5, 2.0, 1.0, 1.2, 1.0)], schema=SCHEMA,
                            orient="row")
    return CandleStore(["BTC/USDT", "ETH/USDT", "BTC/USDT"], {"ALT/BTC": replayed})


def page(store, symbol="BTC/USDT", *, start=None, end=None, limit=10, now=None):
    now = time.time_ns() // 1_000_000 if now is None else now
    return store.page(symbol, timeframe_ms=MINUTE, start_ms=start, end_ms=end, limit=limit, now_ms=now)


def test_symbols_are_listed_once_in_order_with_replayed_ones_last(store):
    assert store.symbols == ("BTC/USDT", "ETH/USDT", "ALT/BTC")
    assert (store.price_decimals("BTC/USDT"), store.price_decimals("ALT/BTC")) == (2, 8)


def test_a_full_page_in_the_past_is_final(store):
    result = page(store, start=T0)
    assert result.frame["open_ms"].to_list() == [T0 + i * MINUTE for i in range(10)] and result.final


def test_a_past_end_makes_any_page_final(store):
    assert page(store, end=T0).final and page(store, start=T0, end=T0 + 3 * MINUTE, limit=1000).final


def test_pages_reaching_now_are_not_final(store):
    now = time.time_ns() // 1_000_000
    assert not page(store, now=now).final
    assert not page(store, start=now - 3 * MINUTE, limit=10, now=now).final
    assert not page(store, end=now + MINUTE, limit=1, now=now).final


def test_replayed_pages_follow_the_same_window_rules(store):
    assert page(store, "ALT/BTC", start=T0 + 1).frame["open_ms"].to_list() == [T0 + 2 * MINUTE]
    assert page(store, "ALT/BTC", limit=1).frame["open_ms"].to_list() == [T0 + 2 * MINUTE]
    assert page(store, "ALT/BTC", end=T0 + MINUTE).frame["open_ms"].to_list() == [T0]
    assert page(store, "ALT/BTC", end=T0 + MINUTE).final
