"""The venue tables against the installed ccxt: every ccxt class and option a market names exists there and means
what we use it for, so an upgrade that renames one fails here rather than loading every market at run time."""

import ccxt
import pytest

from datafactory_assets.sources.venues import MARKETS, venue_market

PAIRS = [(venue, market) for venue, markets in MARKETS.items() for market in markets]


@pytest.mark.parametrize(("venue", "market"), PAIRS, ids=[f"{v}-{m}" for v, m in PAIRS])
def test_each_market_names_a_ccxt_class_of_that_market_and_options_it_reads(venue, market):
    client = venue_market(venue, market)
    exchange_class = getattr(ccxt, client.ccxt_class)
    exchange = exchange_class()
    assert exchange.has[market] is True
    own = exchange.describe()["options"]
    assert set(client.client_options) <= set(own)
    # the market list is narrowed to types the class itself loads by default, never to one it does not know
    types = client.client_options.get("fetchMarkets", {}).get("types")
    if types is not None:
        assert set(client.client_options["fetchMarkets"]) == {"types"}
        assert set(types) <= set(own["fetchMarkets"]["types"])


def test_perpetuals_are_reached_at_binance_okx_and_bybit_through_their_usdm_markets():
    assert {venue for venue, market in PAIRS if market == "swap"} == {"binance", "okx", "bybit"}
    assert venue_market("binance", "swap").ccxt_class == "binanceusdm"
    assert [venue_market(v, "swap").client_options["fetchMarkets"]["types"] for v in ("binance", "okx", "bybit")] == [
        ["linear"], ["swap"], ["linear"]]


def test_a_venue_without_the_market_is_one_line_naming_those_with_it():
    with pytest.raises(ValueError) as caught:
        venue_market("kraken", "swap")
    assert str(caught.value) == "kraken has no swap market here; venues that have one: binance, okx, bybit"
