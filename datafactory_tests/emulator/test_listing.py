"""The emulated Binance market through the real ccxt client: hundreds of USDT pairs, one-letter and digit bases,
pairs that are listed but not trading, 24-hour tickers ranked the same on every call, and klines for every pair."""

import pytest
import requests

from datafactory_assets.emulator.listing import binance_market
from datafactory_assets.emulator.server import Emulator
from datafactory_tests.emulator.helpers import BINANCE_SPOT, MINUTE, T0, ccxt_client, expected_rows


@pytest.fixture(scope="module")
def client():
    with Emulator() as emu:
        exchange = ccxt_client("binance", emu.url, **BINANCE_SPOT)
        exchange.load_markets()
        yield exchange


def test_the_market_lists_hundreds_of_usdt_pairs_with_real_odd_bases_and_some_not_trading(client):
    usdt = {s: m for s, m in client.markets.items() if m["quote"] == "USDT"}
    trading = [s for s, m in usdt.items() if m["active"]]
    assert len(trading) >= 300 and len(usdt) - len(trading) >= 10
    assert {"W/USDT", "S/USDT", "1000SATS/USDT", "BTC/USDT"} <= set(trading)
    assert client.markets["1000SATS/USDT"]["id"] == "1000SATSUSDT" and not client.markets["LUNA/USDT"]["active"]
    assert client.markets["LUNA/USDT"]["info"]["status"] == "HALT"


def test_24h_tickers_cover_every_pair_and_rank_the_same_way_on_every_call(client):
    first, again = client.fetch_tickers(), client.fetch_tickers()
    assert set(first) == set(client.markets)
    rank = [s for s, _ in sorted(first.items(), key=lambda item: -item[1]["quoteVolume"])]
    assert rank == [s for s, _ in sorted(again.items(), key=lambda item: -item[1]["quoteVolume"])]
    assert rank[0] == "BTC/USDT" and rank[1] == "ETH/USDT"
    assert first["LUNA/USDT"]["quoteVolume"] > first["SOL/USDT"]["quoteVolume"]  # halted with yesterday's volume
    w = first["W/USDT"]
    assert w["last"] > 0 and w["low"] <= w["last"] <= w["high"] and w["baseVolume"] > 0


def test_one_symbol_gets_one_ticker_object_and_an_unknown_one_binances_error(client):
    base = client.urls["api"]["public"]
    one = requests.get(f"{base}/ticker/24hr", params={"symbol": "SUSDT"}, timeout=5).json()
    assert one["symbol"] == "SUSDT" and float(one["quoteVolume"]) > 0
    unknown = requests.get(f"{base}/ticker/24hr", params={"symbol": "NOPEUSDT"}, timeout=5)
    assert unknown.status_code == 400 and unknown.json()["code"] == -1121


def test_klines_are_served_for_a_listed_pair_beyond_the_default_symbols(client):
    assert client.fetch_ohlcv("W/USDT", "1m", since=T0, limit=3) == expected_rows("W/USDT", T0, 3, MINUTE)


def test_the_market_is_the_same_on_every_call():
    assert binance_market(("ETH/BTC",)) == binance_market(("ETH/BTC",))


def test_a_pair_listed_later_has_no_kline_before_its_listing_and_one_kline_from_before_answers_the_first(client):
    """Binance's klines from a `startTime` without `endTime` are the oldest at or after it: asked with `limit=1`
    from before the listing, the listing's own kline comes back (how the platform dates a listing)."""
    listed = 1_741_609_800_000  # 2025-03-10T12:30Z, KAITO/USDT's listing in the emulator
    assert client.fetch_ohlcv("KAITO/USDT", "1m", since=listed - 70 * 86_400_000, limit=1)[0][0] == listed
    assert client.fetch_ohlcv("KAITO/USDT", "1m", since=listed - 3 * MINUTE, limit=5,
                              params={"until": listed - 1}) == []


def test_a_delisted_pair_is_listed_inactive_and_its_klines_end_at_the_delisting():
    """MATIC/USDT as Binance showed it after 2024-09-10 03:00 UTC: `BREAK` in exchangeInfo (ccxt: active False),
    the newest kline the last one before the delisting, and none after it; POL/USDT trading from its listing."""
    delisted = 1_725_937_200_000  # 2024-09-10T03:00Z
    with Emulator(symbols=["BTC/USDT", "MATIC/USDT", "POL/USDT"]) as emu:
        exchange = ccxt_client("binance", emu.url, **BINANCE_SPOT)
        exchange.load_markets()
        assert (exchange.markets["MATIC/USDT"]["info"]["status"], exchange.markets["MATIC/USDT"]["active"]) == (
            "BREAK", False)
        assert exchange.markets["POL/USDT"]["active"] is True
        assert [row[0] for row in exchange.fetch_ohlcv("MATIC/USDT", "1m", limit=2)] == [delisted - 2 * MINUTE,
                                                                                         delisted - MINUTE]
        assert exchange.fetch_ohlcv("MATIC/USDT", "1m", since=delisted, limit=5) == []
        assert exchange.fetch_ohlcv("POL/USDT", "1m", since=delisted, limit=1)[0][0] == 1_726_221_600_000
    assert {item.symbol: item.status for item in binance_market(("MATIC/USDT",))}["MATIC/USDT"] == "BREAK"
