"""Each venue's funding caps read through the real ccxt clients against the emulator, carried by every event fetched
with them, and a rate the emulator serves beyond them refused (the flat band where the venue states none)."""

from datetime import UTC, datetime, timedelta

import pytest

from datafactory_assets.datasets import DATASETS
from datafactory_assets.emulator.perp_series import ADJUSTED_CAP, DEFAULT_CAP, INTERVAL_CHANGE, funding_events
from datafactory_assets.resilience.chain import ChainExhaustedError
from datafactory_tests.helpers import ms

FUNDING = DATASETS["funding_rates"]
BTC, ETH = "BTC/USDT:USDT", INTERVAL_CHANGE[0]
STATED_BY = {"binance": "binance GET /fapi/v1/fundingInfo adjustedFundingRateCap/adjustedFundingRateFloor",
             "okx": "okx GET /api/v5/public/funding-rate maxFundingRate/minFundingRate",
             "bybit": "bybit GET /v5/market/instruments-info upperFundingRate/lowerFundingRate"}


def recent_day():
    """A day well inside every venue's depth (OKX keeps three months)."""
    end = (datetime.now(UTC) - timedelta(days=5)).replace(hour=0, minute=0, second=0, microsecond=0)
    return end - timedelta(days=1), end


def funding_chain(sources, names, start, end):
    return sources.chain(names, dataset=FUNDING, validate=lambda f: FUNDING.validate(f, start=start, end=end))


@pytest.mark.parametrize("venue", ["binance", "okx", "bybit"])
@pytest.mark.parametrize(("symbol", "cap"), [(BTC, DEFAULT_CAP), (ETH, ADJUSTED_CAP)])
def test_every_event_carries_the_caps_its_venue_states_and_where_it_stated_them(sources, venue, symbol, cap):
    start, end = recent_day()
    frame = sources.client(venue, "swap").fetch_range(symbol, start=start, end=end, timeframe=None,
                                                      dataset=FUNDING).frame
    assert frame["rate"].to_list() == funding_events(symbol, ms(start), ms(end))["rate"].to_list()
    caps = set(frame.select("rate_cap", "rate_floor", "caps_from").rows())
    if venue == "binance" and symbol == BTC:  # never adjusted: not in fundingInfo, its default cap stated nowhere
        assert caps == {(None, None, "unknown: binance's fundingInfo does not list BTCUSDT, whose default cap (0.75 "
                                     "x its first leverage bracket's maintenance margin rate) only a signed endpoint "
                                     "tells")}
    else:
        assert caps == {(cap, -cap, STATED_BY[venue])}


def test_a_rate_beyond_the_cap_okx_states_is_refused_naming_it_and_bybit_serves_the_window(sources, emulator):
    start, end = recent_day()
    emulator.add_fault("okx:rate:0.01")  # beyond OKX's +-0.3 % for BTC, inside the flat +-3 %
    result = funding_chain(sources, ["okx", "bybit"], start, end).fetch(BTC, start=start, end=end, timeframe=None)
    assert result.source == "bybit" and set(result.frame["source"]) == {"bybit"} and result.frame.height == 3
    [refusal] = [f for f in result.failures if f.source == "okx"]
    assert refusal.kind == "broken" and (
        f"rate_beyond_cap: 3 candle(s), first at {start.replace(tzinfo=None)} (rate +0.01 beyond the cap +0.003 / "
        f"floor -0.003 stated by {STATED_BY['okx']})") in refusal.reason


def test_where_binance_states_no_cap_the_flat_band_applies_and_the_refusal_says_so(sources, emulator):
    start, end = recent_day()
    chain = funding_chain(sources, ["binance"], start, end)
    emulator.add_fault("binanceusdm:rate:0.01")
    accepted = chain.fetch(BTC, start=start, end=end, timeframe=None).frame
    assert accepted["rate"].to_list() == [0.01] * 3 and accepted["rate_cap"].to_list() == [None] * 3
    emulator.clear_faults()
    emulator.add_fault("binanceusdm:rate:-0.04")
    with pytest.raises(ChainExhaustedError) as refused:
        chain.fetch(BTC, start=start, end=end, timeframe=None)
    assert "rate -0.04 beyond the flat cap +0.03 / floor -0.03; the venue's own caps: unknown: binance's " \
           "fundingInfo does not list BTCUSDT" in str(refused.value)
