"""Bybit linear perpetuals through the real ccxt `bybit` client and raw HTTP: instruments with their cursor, the four
klines, funding history across an interval change, open interest with its cursor, limits, depths, errors, faults."""

import time

import ccxt
import pytest

from datafactory_assets.emulator import perp_series
from datafactory_tests.emulator.helpers import DAY, HOUR, MINUTE, T0, expected_perp_rows

BTC = "BTC/USDT:USDT"
FIVE_MINUTES = 5 * MINUTE


@pytest.fixture(scope="module")
def ccxt_venue():
    return "bybit", {"fetchMarkets": {"types": ["spot", "linear"]}}


def now_ms():
    return time.time_ns() // 1_000_000


def get(http, path, **query):
    return http.get(f"{http.base}/bybit/v5/market/{path}", params={"category": "linear", **query})


def test_linear_perpetuals_load_with_their_funding_interval(emu):
    from datafactory_tests.emulator.helpers import ccxt_client

    markets = ccxt_client("bybit", emu.url, fetchMarkets={"types": ["linear"]}).load_markets()
    btc, eth = markets[BTC], markets["ETH/USDT:USDT"]
    assert (btc["id"], btc["type"], btc["linear"], btc["contractSize"]) == ("BTCUSDT", "swap", True, 1)
    assert btc["info"]["fundingInterval"] == 480 and eth["info"]["fundingInterval"] == 240  # ETH moved to 4 h
    caps = {s: (float(m["info"]["upperFundingRate"]), float(m["info"]["lowerFundingRate"])) for s, m in
            ((BTC, btc), ("ETH/USDT:USDT", eth))}
    assert caps == {BTC: (perp_series.DEFAULT_CAP, -perp_series.DEFAULT_CAP),
                    "ETH/USDT:USDT": (perp_series.ADJUSTED_CAP, -perp_series.ADJUSTED_CAP)}  # widened with the 4 h
    assert [r["query"].get("status") for r in emu.request_log()] == [None, "PreLaunch"]


def test_instruments_page_by_cursor(http):
    symbols, cursor = [], None
    while True:
        result = get(http, "instruments-info", limit=3, **({"cursor": cursor} if cursor else {})).json()["result"]
        assert len(result["list"]) <= 3
        symbols += [item["symbol"] for item in result["list"]]
        cursor = result["nextPageCursor"]
        if not cursor:
            break
    assert symbols == [s.replace("/", "") for s in ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT",
                                                    "ADA/USDT", "DOGE/USDT")]
    assert get(http, "instruments-info", limit=1001).json()["retCode"] == 10001


@pytest.mark.parametrize(("price", "path"), [
    (None, "kline"), ("mark", "mark-price-kline"), ("index", "index-price-kline"),
    ("premiumIndex", "premium-index-price-kline")])
def test_ccxt_gets_exactly_the_perp_series_klines(emu, client, price, path):
    rows = client.fetch_ohlcv(BTC, "1m", since=T0, limit=1000, params={"price": price} if price else {})
    kind = {None: "trade", "premiumIndex": "premium"}.get(price, price)
    assert rows == expected_perp_rows(BTC, kind, T0, 1000)
    request = emu.request_log()[-1]
    assert request["path"] == f"/v5/market/{path}"
    assert (request["query"]["category"], request["query"]["symbol"]) == ("linear", "BTCUSDT")


def test_price_klines_are_five_strings_and_limits_are_bybits(http):
    row = get(http, "mark-price-kline", symbol="BTCUSDT", interval="1", start=T0, limit=1).json()["result"]["list"][0]
    assert len(row) == 5 and int(row[0]) == T0
    assert len(get(http, "kline", symbol="BTCUSDT", interval="1", start=T0).json()["result"]["list"]) == 200
    refused = get(http, "index-price-kline", symbol="BTCUSDT", interval="1", limit=1001).json()
    assert refused["retCode"] == 10001
    spot = get(http, "premium-index-price-kline", category="spot", symbol="BTCUSDT", interval="1").json()
    assert spot["retCode"] == 10001  # premium index is linear only


def test_funding_history_follows_the_interval_change(http, client):
    symbol, change = perp_series.INTERVAL_CHANGE
    answer = get(http, "funding/history", symbol="ETHUSDT", endTime=change + DAY, limit=9).json()["result"]["list"]
    times = [int(item["fundingRateTimestamp"]) for item in answer]
    assert times == [change + DAY - k * 4 * HOUR for k in range(7)] + [change - 8 * HOUR, change - 16 * HOUR]
    expected = perp_series.funding_events(symbol, change - 16 * HOUR, change + DAY + 1)
    assert [float(item["fundingRate"]) for item in answer][::-1] == expected["rate"].to_list()
    history = client.fetch_funding_rate_history(symbol, since=change - DAY, limit=10, params={"until": change + DAY})
    expected = perp_series.funding_events(symbol, change - DAY, change + DAY + 1)
    assert [(h["timestamp"], h["fundingRate"]) for h in history] == list(zip(expected["open_ms"], expected["rate"]))


def test_funding_history_reaches_back_to_the_launch_and_refuses_a_lone_start(http):
    launch = perp_series.perp_listed_since_ms(BTC)
    first = get(http, "funding/history", symbol="BTCUSDT", endTime=launch + DAY).json()["result"]["list"]
    assert [int(item["fundingRateTimestamp"]) for item in first] == [launch + k * 8 * HOUR for k in (3, 2, 1, 0)]
    assert len(get(http, "funding/history", symbol="BTCUSDT").json()["result"]["list"]) == 200
    lone = get(http, "funding/history", symbol="BTCUSDT", startTime=launch)
    assert (lone.status_code, lone.json()["retCode"]) == (200, 10001)
    assert get(http, "funding/history", symbol="BTCUSDT", limit=201).json()["retCode"] == 10001


def test_ccxt_open_interest_history_equals_the_5m_series(client):
    """ccxt asks for [since, since + 50 periods], both ends included: the newest 50 of those 51 come back."""
    since = (now_ms() // FIVE_MINUTES - 60) * FIVE_MINUTES
    history = client.fetch_open_interest_history(BTC, "5m", since=since, limit=50)
    expected = perp_series.open_interest(BTC, since + FIVE_MINUTES, since + 51 * FIVE_MINUTES)
    assert [(h["timestamp"], h["openInterestAmount"]) for h in history] == list(
        zip(expected["open_ms"], expected["amount"]))


def test_open_interest_pages_back_by_cursor_to_the_start(http):
    end = (now_ms() // HOUR - 30) * HOUR
    start = end - 2 * HOUR
    stamps, amounts, cursor = [], [], None
    while True:
        query = {"symbol": "BTCUSDT", "intervalTime": "5min", "startTime": start, "endTime": end, "limit": 7}
        result = get(http, "open-interest", **query, **({"cursor": cursor} if cursor else {})).json()["result"]
        stamps += [int(item["timestamp"]) for item in result["list"]]
        amounts += [float(item["openInterest"]) for item in result["list"]]
        cursor = result["nextPageCursor"]
        if not cursor:
            break
    expected = perp_series.open_interest(BTC, start, end + 1)
    assert stamps[::-1] == expected["open_ms"].to_list() and amounts[::-1] == expected["amount"].to_list()
    hourly = get(http, "open-interest", symbol="BTCUSDT", intervalTime="1h", endTime=end).json()["result"]["list"]
    assert len(hourly) == 50 and all(int(item["timestamp"]) % HOUR == 0 for item in hourly)


def test_open_interest_starts_at_the_launch_and_checks_its_parameters(http):
    launch = perp_series.perp_listed_since_ms(BTC)
    early = get(http, "open-interest", symbol="BTCUSDT", intervalTime="5min", endTime=launch + 10 * MINUTE).json()
    assert [int(item["timestamp"]) for item in early["result"]["list"]] == [launch + 10 * MINUTE, launch + 5 * MINUTE,
                                                                            launch]
    assert early["result"]["nextPageCursor"] == ""
    for query in ({"intervalTime": "5m"}, {"intervalTime": "5min", "limit": 201}, {"intervalTime": "5min",
                                                                                   "symbol": "ETHBTC"}):
        assert get(http, "open-interest", **{"symbol": "BTCUSDT", **query}).json()["retCode"] == 10001


def test_a_holes_fault_drops_premium_candles_and_a_gateway_error_hits_open_interest(emu, client):
    emu.add_fault("bybit:holes:0.5@1")
    holed = client.fetch_ohlcv(BTC, "1m", since=T0, limit=200, params={"price": "premiumIndex"})
    assert 0 < len(holed) < 200 and all(row in expected_perp_rows(BTC, "premium", T0, 200) for row in holed)
    emu.add_fault("bybit:status:502@1")
    with pytest.raises(ccxt.ExchangeNotAvailable):
        client.fetch_open_interest_history(BTC, "5m", limit=10)
    assert len(client.fetch_open_interest_history(BTC, "5m", limit=10)) == 10


def test_spot_klines_are_unchanged_by_the_perpetuals(http):
    spot = get(http, "kline", category="spot", symbol="BTCUSDT", interval="1", start=T0, limit=1).json()["result"]
    linear = get(http, "kline", symbol="BTCUSDT", interval="1", start=T0, limit=1).json()["result"]
    assert spot["category"] == "spot" and linear["category"] == "linear" and spot["list"] != linear["list"]
