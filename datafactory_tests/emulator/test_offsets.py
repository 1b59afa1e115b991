"""Per-venue price offsets through the real clients (ccxt, CoinGecko's reference), the control endpoint and the CLI's
argument."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
import requests

from datafactory_assets.emulator.candles import synthetic_candles
from datafactory_assets.emulator.offsets import parse_offset_arg, priced
from datafactory_assets.emulator.server import VENUES, Emulator
from datafactory_assets.emulator.store import CandleStore
from datafactory_assets.sources.coingecko_source import CoinGeckoReference
from datafactory_tests.emulator.helpers import BINANCE_SPOT, HOUR, MINUTE, SPOT_ONLY, T0, expected_rows

PRICES = slice(1, 5)  # open, high, low, close in a ccxt row
HOUR_DELTA = timedelta(hours=1)


def scaled(rows: list[list], bps: float, decimals: int = 2) -> list[list]:
    """The rows with their prices times (1 + bps / 10,000), rounded to the tick as the emulator rounds (Polars)."""
    prices = (pl.DataFrame([row[PRICES] for row in rows], orient="row") * (1 + bps / 10_000)).select(
        pl.all().round(decimals))
    return [[row[0], *values, row[5]] for row, values in zip(rows, prices.rows())]


def test_an_offset_venue_serves_every_price_that_far_off_and_the_others_stay_exact(emu, loaded_clients):
    okx, binance = loaded_clients("okx", **SPOT_ONLY), loaded_clients("binance", **BINANCE_SPOT)
    want = expected_rows("BTC/USDT", T0, 100)
    assert okx.fetch_ohlcv("BTC/USDT", "1m", since=T0, limit=100) == want  # cached before the offset
    emu.set_price_offset("okx", 150)
    served = okx.fetch_ohlcv("BTC/USDT", "1m", since=T0, limit=100)
    assert served == scaled(want, 150)
    ratios = np.array([row[4] for row in served]) / np.array([row[4] for row in want])
    assert np.allclose(ratios, 1.015, atol=1e-6)  # the 2-decimal tick moves a 60,000 price by under 0.002 bps
    assert binance.fetch_ohlcv("BTC/USDT", "1m", since=T0, limit=100) == want
    emu.clear_price_offsets("okx")
    assert okx.fetch_ohlcv("BTC/USDT", "1m", since=T0, limit=100) == want


def test_a_negative_offset_keeps_cheap_symbols_on_their_tick_and_candles_valid(emu, loaded_clients):
    emu.set_price_offset("binance", -40)
    served = loaded_clients("binance", **BINANCE_SPOT).fetch_ohlcv("ADA/USDT", "1m", since=T0, limit=60)
    assert served == scaled(expected_rows("ADA/USDT", T0, 60), -40, decimals=8)
    assert all(low <= min(open_, close) <= max(open_, close) <= high for _, open_, high, low, close, _ in served)


def test_coingecko_takes_an_offset_too_so_it_can_be_the_wrong_reference(emu):
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - 2 * HOUR_DELTA
    end = start + HOUR_DELTA
    reference = CoinGeckoReference(emulator_url=emu.url)
    plain = reference.prices("BTC/USDT", start=start, end=end)
    emu.set_price_offset("coingecko", 150)
    off = reference.prices("BTC/USDT", start=start, end=end)
    assert off["ts"].to_list() == plain["ts"].to_list() and plain.height == 12  # 5-minutely, just before each mark
    assert off["price"].to_list() == pytest.approx((plain["price"] * 1.015).to_list(), rel=1e-6)  # cents rounded


def test_every_venue_renders_offset_pages_from_its_own_store_copy():
    store = CandleStore(["BTC/USDT"], {})
    want = synthetic_candles("BTC/USDT", T0, T0 + 5 * MINUTE)
    for venue_id, cls in VENUES.items():
        venue = cls(store)
        copy = priced(venue, 100)
        page = copy.store.page("BTC/USDT", timeframe_ms=MINUTE, start_ms=T0, end_ms=None, limit=5, now_ms=T0 + HOUR)
        assert page.final and venue.store is store and type(copy) is type(venue), venue_id
        assert page.frame["close"].to_list() == (want["close"] * 1.01).round(2).to_list(), venue_id
        assert page.frame["volume"].to_list() == want["volume"].to_list(), venue_id
        assert priced(venue, 0) is venue


def test_control_endpoint_sets_shows_and_clears_offsets(emu):
    base = f"{emu.url}/_emulator/offsets"
    assert requests.post(base, json={"venue": "okx", "bps": 150}, timeout=5).json() == {
        "ok": True, "offsets": {"okx": 150.0}}
    requests.post(base, json={"venue": "kraken", "bps": -20.5}, timeout=5)
    assert requests.get(base, timeout=5).json() == {"offsets": {"okx": 150.0, "kraken": -20.5}}
    assert emu.price_offsets() == {"okx": 150.0, "kraken": -20.5}
    for bad in [{"venue": "nowhere", "bps": 5}, {"bps": 5}, {"venue": "okx"}, {"venue": "okx", "bps": "150"},
                {"venue": "okx", "bps": True}, {"venue": "okx", "bps": 20_000}, ["okx"]]:
        refused = requests.post(base, json=bad, timeout=5)
        assert refused.status_code == 400 and refused.json()["error"], bad
    assert requests.post(base, data="not json", timeout=5).status_code == 400
    assert requests.put(base, json={}, timeout=5).status_code == 404
    assert requests.delete(base, json={"venue": "okx"}, timeout=5).json()["offsets"] == {"kraken": -20.5}
    assert requests.delete(base, timeout=5).json() == {"ok": True, "offsets": {}}


def test_offsets_given_at_start_apply_and_bad_ones_are_refused_by_name():
    with Emulator(price_offsets={"okx": 150}) as emu:
        assert emu.price_offsets() == {"okx": 150.0}
    with pytest.raises(ValueError, match="unknown venue 'nowhere'"):
        Emulator(price_offsets={"nowhere": 1})
    assert parse_offset_arg("okx=150", venues=VENUES) == ("okx", 150.0)
    assert parse_offset_arg(" kraken = -40.5", venues=VENUES) == ("kraken", -40.5)
    for text, message in [("okx", "write VENUE=BPS"), ("okx=lots", "write VENUE=BPS"),
                          ("moon=5", "unknown venue 'moon'"), ("okx=9000", "within")]:
        with pytest.raises(ValueError, match=message):
            parse_offset_arg(text, venues=VENUES)

