"""A symbol's datasets as the series a backfill plans: named, keyed and counted per dataset."""

from datafactory_assets.series import Series, by_dataset, series_of
from datafactory_assets.settings import SymbolSettings
from datafactory_tests.helpers import symbol_settings


def test_a_perpetual_is_one_series_per_dataset_it_collects_funding_counted_in_events():
    """Before, funding rates were left out: a perpetual's backfill never fetched them."""
    spot = symbol_settings("ETH/USDT")
    perp = SymbolSettings(symbol="BTC/USDT:USDT", timeframe="1m", start=spot.start, sources=("binance",))
    series = series_of([spot, perp])
    assert [(s.name, s.asset_path, None if s.counts_events else s.rows_per_hour) for s in series] == [
        ("ETH/USDT", ("candles", "eth_usdt"), 60),
        ("perp_candles BTC/USDT:USDT", ("perp_candles", "btc_usdt"), 60),
        ("mark_candles BTC/USDT:USDT", ("mark_candles", "btc_usdt"), 60),
        ("index_candles BTC/USDT:USDT", ("index_candles", "btc_usdt"), 60),
        ("premium_candles BTC/USDT:USDT", ("premium_candles", "btc_usdt"), 60),
        ("funding_rates BTC/USDT:USDT", ("funding_rates", "btc_usdt"), None),  # at the venue's own intervals
        ("open_interest BTC/USDT:USDT", ("open_interest", "btc_usdt"), 12),
    ]
    assert {name: [s.symbol for s in group] for name, group in by_dataset(series).items()} == {
        "candles": ["ETH/USDT"], "perp_candles": ["BTC/USDT:USDT"], "mark_candles": ["BTC/USDT:USDT"],
        "index_candles": ["BTC/USDT:USDT"], "premium_candles": ["BTC/USDT:USDT"], "funding_rates": ["BTC/USDT:USDT"],
        "open_interest": ["BTC/USDT:USDT"]}
    assert Series(spot) == Series(spot, "candles") and Series(perp).sources == ("binance",)
