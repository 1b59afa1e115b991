"""The synthetic perpetual series: random access, sane bands around spot, Binance's premium definition, funding on
each instrument's interval timeline within the caps, non-negative open interest."""

import numpy as np
import pytest

from datafactory_assets.emulator import perp_series as perp
from datafactory_assets.emulator.candles import synthetic_candles
from datafactory_tests.emulator.helpers import DAY, HOUR, MINUTE, T0

BTC = "BTC/USDT:USDT"


@pytest.mark.parametrize("kind", ["trade", "mark", "index", "premium"])
def test_any_window_is_the_same_slice_of_one_series(kind):
    whole = perp.perp_candles(BTC, kind, T0, T0 + 3 * HOUR)
    part = perp.perp_candles(BTC, kind, T0 + HOUR + 7 * MINUTE, T0 + HOUR + 20 * MINUTE)
    assert part.rows() == whole.slice(67, 13).rows()
    assert (whole["high"] >= whole[["open", "close"]].max_horizontal()).all()
    assert (whole["low"] <= whole[["open", "close"]].min_horizontal()).all()
    assert (whole["open"][1:] == whole["close"][:-1]).all()


def test_trade_mark_and_index_stay_within_a_few_basis_points_of_spot():
    spot = synthetic_candles("BTC/USDT", T0, T0 + 2 * DAY)["close"].to_numpy()
    for kind in ("trade", "mark", "index"):
        close = perp.perp_candles(BTC, kind, T0, T0 + 2 * DAY)["close"].to_numpy()
        assert np.abs(close / spot - 1).max() < 0.002, kind
    volumes = {kind: perp.perp_candles(BTC, kind, T0, T0 + HOUR)["volume"] for kind in ("trade", "mark")}
    assert (volumes["trade"] > 0).all() and (volumes["mark"] == 0).all()


def test_premium_is_mark_minus_index_over_index_as_binance_defines_it():
    mark, index, premium = (perp.perp_candles(BTC, kind, T0, T0 + HOUR) for kind in ("mark", "index", "premium"))
    expected = np.round((mark["open"].to_numpy() - index["open"].to_numpy()) / index["open"].to_numpy(), 8)
    assert np.array_equal(premium["open"].to_numpy(), expected)


def test_funding_follows_the_interval_timeline_and_the_caps():
    symbol, change = perp.INTERVAL_CHANGE
    events = perp.funding_events(symbol, change - 2 * DAY, change + 2 * DAY)
    gaps = np.diff(events["open_ms"].to_numpy())
    before = events["open_ms"].to_numpy()[1:] <= change
    assert set(gaps[before]) == {8 * HOUR} and set(gaps[~before]) == {4 * HOUR}
    assert events.filter(events["open_ms"] >= change)["interval_hours"].unique().to_list() == [4]
    assert (events["open_ms"] % (4 * HOUR) == 0).all()
    lag = events["funding_ms"] - events["open_ms"]
    assert lag.min() >= 0 and lag.max() <= perp.MAX_FUNDING_LAG_MS and lag.max() > 0
    history = perp.funding_events(BTC, 0, 2**62)
    assert history["open_ms"][0] == perp.PERP_LISTED_SINCE_MS and set(np.diff(history["open_ms"])) == {8 * HOUR}
    assert history["rate"].abs().max() <= perp.DEFAULT_CAP and history["rate"].min() < 0 < history["rate"].max()
    assert perp.terms_at(symbol, change - 1).interval_hours == 8 and perp.terms_at(symbol, change).interval_hours == 4


def test_funding_carries_the_mark_price_at_the_event():
    events = perp.funding_events(BTC, T0, T0 + DAY)
    marks = perp.perp_candles(BTC, "mark", T0, T0 + DAY)
    at_events = marks.filter(marks["open_ms"].is_in(events["open_ms"].implode()))
    assert at_events["open"].to_list() == events["mark"].to_list()


def test_open_interest_is_every_five_minutes_positive_and_valued_at_the_mark():
    oi = perp.open_interest(BTC, T0, T0 + DAY)
    assert oi.height == 288 and set(np.diff(oi["open_ms"])) == {5 * MINUTE}
    assert (oi["amount"] > 0).all()
    marks = perp.perp_candles(BTC, "mark", T0, T0 + DAY, 5 * MINUTE)["open"].to_numpy()
    assert np.allclose(oi["value"].to_numpy(), oi["amount"].to_numpy() * marks)
