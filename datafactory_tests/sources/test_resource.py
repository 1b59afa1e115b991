from datetime import UTC, datetime, timedelta

from datafactory_assets.emulator.candles import synthetic_candles
from datafactory_assets.sources.ccxt_source import CcxtCandleSource
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.sources.yahoo_source import YahooCandleSource
from datafactory_tests.helpers import ms


def test_clients_are_built_once_per_venue_and_process_for_the_right_library(emulator):
    sources = SourcesResource(emulator_url=emulator.url)
    assert isinstance(sources.client("okx"), CcxtCandleSource)
    assert isinstance(sources.client("yahoo"), YahooCandleSource)
    assert sources.client("okx") is SourcesResource(emulator_url=emulator.url).client("okx")


def test_the_reference_prices_come_from_coingecko_and_match_the_venues(emulator):
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
    prices = SourcesResource(emulator_url=emulator.url).reference().prices("ETH/USDT", start=start,
                                                                          end=start + timedelta(hours=3))
    closes = synthetic_candles("ETH/USDT", ms(start) - 60_000, ms(start + timedelta(hours=3)))
    by_close_time = dict(zip((closes["open_ms"] + 60_000).to_list(), closes["close"].to_list(), strict=True))
    assert prices.height == 4
    assert [by_close_time[ms(t)] for t in prices["ts"].to_list()] == prices["price"].to_list()
