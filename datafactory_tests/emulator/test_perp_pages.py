"""PerpStore and the selections the OKX and Bybit dialects share: spot pages untouched, perpetual pages selected as
spot ones are, price offsets and altering faults reaching perpetual candles, funding and open-interest windows."""

import pytest

from datafactory_assets.emulator import perp_series
from datafactory_assets.emulator.okx import OkxVenue
from datafactory_assets.emulator.perp_pages import PerpStore, funding, open_interest, perpetuals_of, window
from datafactory_assets.emulator.venue import Request
from datafactory_assets.emulator.store import CandleStore
from datafactory_tests.emulator.helpers import DAY, HOUR, MINUTE, T0, ccxt_client, expected_perp_rows

BTC = "BTC/USDT:USDT"
NOW = T0 + 30 * DAY


@pytest.fixture(scope="module")
def store():
    spot = CandleStore(["BTC/USDT", "ETH/USDT", "ETH/BTC"], {})
    return spot, PerpStore(spot)


def test_it_lists_a_usdt_perpetual_per_usdt_pair_and_leaves_spot_pages_alone(store):
    spot, perp = store
    assert perp.perpetuals == ("BTC/USDT:USDT", "ETH/USDT:USDT")
    selection = {"timeframe_ms": MINUTE, "start_ms": T0, "end_ms": None, "limit": 50, "now_ms": NOW}
    assert perp.page("BTC/USDT", **selection).frame.equals(spot.page("BTC/USDT", **selection).frame)
    assert perp.symbols == spot.symbols and perp.price_decimals("BTC/USDT") == spot.price_decimals("BTC/USDT")


def test_a_venue_lists_perpetuals_only_from_a_perp_store(store):
    spot, perp = store
    assert perpetuals_of(spot) == () and perpetuals_of(perp) == perp.perpetuals
    query = {"instType": "SWAP"}
    bare, full = (OkxVenue(s).respond(Request("GET", "/api/v5/public/instruments", query, NOW)) for s in store)
    assert b'"data":[]' in bare.body and b"BTC-USDT-SWAP" in full.body


@pytest.mark.parametrize("kind", ["trade", "mark", "index", "premium"])
def test_perpetual_pages_select_like_spot_pages(store, kind):
    _, perp = store
    oldest = perp.page(BTC, timeframe_ms=MINUTE, start_ms=T0 + 1, end_ms=None, limit=5, now_ms=NOW, kind=kind)
    expected = expected_perp_rows(BTC, kind, T0 + MINUTE, 5)
    assert [list(row[:5]) for row in oldest.frame.rows()] == [row[:5] for row in expected]
    newest = perp.page(BTC, timeframe_ms=MINUTE, start_ms=None, end_ms=T0, limit=3, now_ms=NOW, kind=kind)
    assert newest.frame["open_ms"].to_list() == [T0 - 2 * MINUTE, T0 - MINUTE, T0] and newest.final and oldest.final


def test_a_window_never_opens_before_the_listing():
    assert window(listed=10 * MINUTE + 1, timeframe_ms=MINUTE, start_ms=0, end_ms=HOUR, limit=5) == (
        11 * MINUTE, 15 * MINUTE)
    assert window(listed=0, timeframe_ms=MINUTE, start_ms=None, end_ms=HOUR + 59_999, limit=3) == (
        58 * MINUTE, HOUR)
    first, last = window(listed=2 * HOUR, timeframe_ms=MINUTE, start_ms=None, end_ms=HOUR, limit=3)
    assert first > last


def test_funding_and_open_interest_windows_keep_the_newest():
    events = funding(BTC, first_ms=T0, last_ms=T0 + 2 * DAY, limit=4)
    assert events["open_ms"].to_list() == [T0 + 2 * DAY - 2 * HOUR - k * 8 * HOUR for k in (3, 2, 1, 0)]
    assert events.equals(perp_series.funding_events(BTC, T0, T0 + 2 * DAY + 1).tail(4))
    assert funding(BTC, first_ms=T0 + 1, last_ms=T0, limit=4).is_empty()
    samples = open_interest(BTC, first_ms=T0, last_ms=T0 + DAY, period_ms=HOUR, limit=3, offset_ms=0)
    assert samples["open_ms"].to_list() == [T0 + DAY - 2 * HOUR, T0 + DAY - HOUR, T0 + DAY]
    five = perp_series.open_interest(BTC, T0 + DAY - 2 * HOUR, T0 + DAY + 1)
    assert samples["amount"].to_list() == five.filter(five["open_ms"] % HOUR == 0)["amount"].to_list()


def test_a_price_offset_moves_perpetual_prices_like_spot_ones(emu):
    client = ccxt_client("okx", emu.url, fetchMarkets={"types": ["swap"]})
    client.load_markets()
    emu.set_price_offset("okx", 100)
    for kind, price in (("mark", "mark"), ("index", "index")):
        shifted = client.fetch_ohlcv(BTC, "1m", since=T0, limit=3, params={"price": price})
        plain = expected_perp_rows(BTC, kind, T0, 3)
        assert [row[4] for row in shifted] == [round(row[4] * 1.01, 8) for row in plain]
