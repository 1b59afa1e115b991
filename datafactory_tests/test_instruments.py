"""Instruments from ccxt unified symbols: spot pairs and USDⓈ-M perpetuals parsed into their parts, everything else
refused with one line naming it and what is collected."""

import pytest

from datafactory_assets.instruments import COLLECTED, Instrument, InstrumentError


@pytest.mark.parametrize(("symbol", "parts"), [
    ("BTC/USDT", ("BTC", "USDT", None, "spot", "btc_usdt")),
    ("BTC/USDT:USDT", ("BTC", "USDT", "USDT", "swap", "btc_usdt")),
    ("ETH/USDC:USDC", ("ETH", "USDC", "USDC", "swap", "eth_usdc")),
    ("W/USDT", ("W", "USDT", None, "spot", "w_usdt")),
    ("S/USDT:USDT", ("S", "USDT", "USDT", "swap", "s_usdt")),
    ("1000PEPE/USDT:USDT", ("1000PEPE", "USDT", "USDT", "swap", "1000pepe_usdt")),
    ("1000SATS/USDT", ("1000SATS", "USDT", None, "spot", "1000sats_usdt")),
])
def test_spot_pairs_and_usdm_perpetuals_are_parsed_into_their_parts(symbol, parts):
    instrument = Instrument.parse(symbol)
    assert instrument.symbol == symbol
    assert (instrument.base, instrument.quote, instrument.settle, instrument.market, instrument.asset_name) == parts


def test_a_spot_pair_and_its_perpetual_share_an_asset_name_and_differ_in_market():
    spot, perpetual = Instrument.parse("BTC/USDT"), Instrument.parse("BTC/USDT:USDT")
    assert spot.asset_name == perpetual.asset_name == "btc_usdt"
    assert (spot.kind, perpetual.kind) == ("spot pair", "USDⓈ-M perpetual")
    assert spot != perpetual


@pytest.mark.parametrize(("symbol", "problem"), [
    ("BTC/USD:BTC", f"is an inverse contract (settled in BTC, not in its quote USD): {COLLECTED}"),
    ("ETH/USD:ETH", f"is an inverse contract (settled in ETH, not in its quote USD): {COLLECTED}"),
    ("BTC/USDT:USDT-250328", f"is a dated future or an option (expiry 250328): {COLLECTED}"),
    ("BTC/USD:BTC-250328", f"is a dated future or an option (expiry 250328): {COLLECTED}"),
    ("BTC/USDT:USDT-250328-100000-C", f"is a dated future or an option (expiry 250328-100000-C): {COLLECTED}"),
    ("btc-usdt", 'is malformed: write BASE/QUOTE in capitals, such as "BTC/USDT"'),
    ("BTC/USDT:", 'is malformed: write BASE/QUOTE:QUOTE in capitals, such as "BTC/USDT:USDT"'),
    ("btc/usdt:usdt", 'is malformed: write BASE/QUOTE:QUOTE in capitals, such as "BTC/USDT:USDT"'),
    ("BTC/U", 'is malformed: write BASE/QUOTE in capitals, such as "BTC/USDT"'),
])
def test_anything_else_is_refused_with_one_line_naming_it(symbol, problem):
    with pytest.raises(InstrumentError) as caught:
        Instrument.parse(symbol)
    assert (caught.value.problem, str(caught.value)) == (problem, f"{symbol} {problem}")
    assert "\n" not in str(caught.value)
