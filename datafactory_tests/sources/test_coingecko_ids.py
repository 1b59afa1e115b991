"""Choosing the CoinGecko coin of a venue's base against the emulated directory (impostors, twins, bridged copies,
unlisted tokens) through the real HTTP client: by the venue's price, never by market cap alone."""

import time

import pytest

from datafactory_assets.emulator.candles import synthetic_candles
from datafactory_assets.emulator.coingecko_coins import unlisted_bases
from datafactory_assets.sources.base import SourceError
from datafactory_assets.sources.coingecko_ids import resolve_coin_ids
from datafactory_assets.sources.coingecko_source import CoinGeckoReference


def venue_price(base: str) -> float:
    """What the venue's ticker says now: the pair's latest hourly close, as the emulated Binance answers."""
    now = time.time_ns() // 1_000_000
    return float(synthetic_candles(f"{base}/USDT", now - 3_600_000, now, 3_600_000)["close"][-1])


def coingecko_requests(emulator) -> list[str]:
    return [entry["path"] for entry in emulator.request_log() if "/coins/" in entry["path"]]


@pytest.fixture
def reference(emulator):
    return CoinGeckoReference(emulator_url=emulator.url)


def test_each_base_gets_the_coin_at_the_venues_price_in_two_requests(reference, emulator):
    unlisted = unlisted_bases()[0]
    bases = ["BTC", "ETH", "SOL", "W", "UNI", "EPIC", "SIGN", unlisted]
    chosen = resolve_coin_ids({base: venue_price(base) for base in bases}, quote="USDT", reference=reference)
    # BTC's impostor reports a larger market cap than bitcoin: only the price tells them apart; ETH's bridged copy
    # has its price and a thousandth of its cap
    assert chosen.ids == {"BTC": "bitcoin", "ETH": "ethereum", "SOL": "solana", "W": "w", "UNI": "uni"}
    assert chosen.unresolved == {
        "EPIC": "2 CoinGecko coins at the venue's price, none dominant: epic, epic-protocol",
        "SIGN": "2 CoinGecko coins at the venue's price, none dominant: sign, sign-protocol",
        unlisted: "no coin with this symbol on CoinGecko",
    }
    assert coingecko_requests(emulator) == ["/api/v3/coins/list", "/api/v3/coins/markets"]
    assert chosen.error is None


def test_a_base_none_of_whose_coins_is_at_the_venues_price_gets_no_id(reference):
    chosen = resolve_coin_ids({"BTC": venue_price("BTC") * 1.5}, quote="USDT", reference=reference)
    assert chosen.ids == {} and chosen.unresolved == {
        "BTC": "none of its 2 CoinGecko coins (bitcoin, bitcoin-inu) is priced within 5% of the venue"}


def test_coingecko_unreachable_is_an_error_not_a_guess():
    nobody = CoinGeckoReference(emulator_url="http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(SourceError, match="coingecko coins/list: ConnectionError"):
        resolve_coin_ids({"BTC": 60_000.0}, quote="USDT", reference=nobody)
