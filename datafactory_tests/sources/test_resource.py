from datetime import UTC, datetime, timedelta

import pytest

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
    minutes = synthetic_candles("ETH/USDT", ms(start), ms(start + timedelta(hours=3)))
    by_open = {row["open_ms"]: row for row in minutes.iter_rows(named=True)}
    assert prices.height == 3  # hourly, each point 40 to 48 s past its hour
    for t, price in prices.iter_rows():
        minute = by_open[ms(t) // 60_000 * 60_000]  # the venues' 1-minute candle spanning the instant
        share = (ms(t) % 60_000) / 60_000
        assert price == round(minute["open"] + (minute["close"] - minute["open"]) * share, 8)


# The one request (two at Bybit, which asks for pre-launch contracts apart) that loads each market's list: the client
# for a market asks for that list alone, whatever the emulator serves for it yet.
MARKET_LISTS = {
    ("binance", "spot"): [("/api/v3/exchangeInfo", {})],
    ("binance", "swap"): [("/fapi/v1/exchangeInfo", {})],
    ("okx", "spot"): [("/api/v5/public/instruments", {"instType": "SPOT"})],
    ("okx", "swap"): [("/api/v5/public/instruments", {"instType": "SWAP"})],
    ("bybit", "spot"): [("/v5/market/instruments-info", {"category": "spot"})],
    ("bybit", "swap"): [("/v5/market/instruments-info", {"category": "linear", "limit": "1000"}),
                        ("/v5/market/instruments-info", {"category": "linear", "limit": "1000",
                                                         "status": "PreLaunch"})],
}


def test_a_client_per_venue_and_market_asks_for_that_markets_list_alone(emulator):
    import ccxt

    sources = SourcesResource(emulator_url=emulator.url)
    for (venue, market), requests in MARKET_LISTS.items():
        client = sources.client(venue, market)
        assert client is sources.client(venue, market) and client.name == venue
        emulator.clear_request_log()
        try:
            client.exchange.load_markets(reload=True)
        except ccxt.BaseError:
            pass  # a market the emulator does not serve yet: the request it made is what counts here
        # the emulator, like the venue, serves each ccxt class apart: Binance's perpetuals under /binanceusdm
        assert [(r["venue"], r["path"], r["query"]) for r in emulator.request_log()] == [
            (type(client.exchange).__name__, path, query) for path, query in requests], (venue, market)
    assert sources.client("binance") is sources.client("binance", "spot")
    assert sources.client("binance", "swap") is not sources.client("binance", "spot")
    assert type(sources.client("binance", "swap").exchange).__name__ == "binanceusdm"


def test_binances_perpetuals_keep_a_budget_and_breaker_apart_from_spot(tmp_path, emulator):
    """Binance bans spot and USDⓈ-M apart and budgets them apart (6000 and 2400 weight a minute): a ban of spot
    Binance leaves binanceusdm's breaker closed, and its perpetual candles are still fetched."""
    from datafactory_assets.checks import validate_candles
    from datafactory_assets.datasets import PERP_CANDLES, SPOT_CANDLES
    from datafactory_assets.sources.base import SourceError

    sources = SourcesResource(emulator_url=emulator.url, state_path=str(tmp_path / "state.sqlite"),
                              retry_attempts=1)
    spot, perp = sources.guard("binance"), sources.guard("binance", "swap")
    assert (spot.source, perp.source) == ("binance", "binanceusdm")
    assert (spot.limiter.budget, perp.limiter.budget) == (5400, 2160)  # 90 % of each
    assert sources.client("binance", "swap").budget_limit == 2160
    start = datetime(2025, 6, 2, 10, tzinfo=UTC)
    end = start + timedelta(minutes=30)

    def fetch(symbol, dataset):
        chain = sources.chain(["binance"], dataset=dataset,
                              validate=lambda f: validate_candles(f, start=start, end=end, timeframe_ms=60_000))
        return chain.fetch(symbol, start=start, end=end, timeframe="1m", expected_rows=30)

    emulator.add_fault("binance:status:418")
    with pytest.raises(SourceError, match="418"):
        fetch("BTC/USDT", SPOT_CANDLES)
    assert spot.blocked_reason() is not None and perp.blocked_reason() is None
    result = fetch("BTC/USDT:USDT", PERP_CANDLES)
    assert result.source == "binance" and result.frame.height == 30
