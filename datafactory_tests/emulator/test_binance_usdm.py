"""The Binance USDⓈ-M dialect through the real ccxt `binanceusdm` client: markets, trade / mark / index / premium
klines, funding history and intervals, open interest, limits, the 30-day open-interest depth, errors and faults.
Every value is compared with what `perp_series` computes."""

import time

import ccxt
import numpy as np
import pytest

from datafactory_assets.emulator import perp_series as perp
from datafactory_assets.emulator.binance_usdm import KLINE_MAX, OPEN_INTEREST_DEPTH_MS, BinanceUsdmVenue
from datafactory_assets.emulator.store import CandleStore
from datafactory_assets.emulator.venue import Request
from datafactory_tests.emulator.helpers import DAY, HOUR, MINUTE, T0, ccxt_client, forward

BTC = "BTC/USDT:USDT"
KINDS = {None: "trade", "mark": "mark", "index": "index", "premiumIndex": "premium"}


@pytest.fixture(scope="module")
def ccxt_venue():
    return "binanceusdm", {}


def expected(kind: str, start_ms: int, count: int, timeframe_ms: int = MINUTE) -> list[list]:
    frame = perp.perp_candles(BTC, kind, start_ms, start_ms + count * timeframe_ms, timeframe_ms)
    return [list(row) for row in frame.rows()]


def test_ccxt_loads_the_perpetuals_with_one_request(emu):
    markets = ccxt_client("binanceusdm", emu.url).load_markets()
    assert [r["path"] for r in emu.request_log()] == ["/fapi/v1/exchangeInfo"]
    btc = markets[BTC]
    assert (btc["id"], btc["type"], btc["swap"], btc["linear"], btc["settle"], btc["active"]) == (
        "BTCUSDT", "swap", True, True, "USDT", True)
    assert btc["created"] == perp.PERP_LISTED_SINCE_MS
    assert "ETH/USDT:USDT" in markets and not any(symbol.startswith("ETH/BTC") for symbol in markets)


@pytest.mark.parametrize("price", list(KINDS))
def test_each_price_kind_is_the_series_value_for_value(client, emu, price):
    params = {"price": price} if price else {}
    rows = client.fetch_ohlcv(BTC, "1m", since=T0, limit=1000, params=params)
    assert rows == expected(KINDS[price], T0, 1000)
    hours = client.fetch_ohlcv(BTC, "1h", since=T0, limit=24, params=params)
    assert hours == expected(KINDS[price], T0, 24, HOUR)
    query = emu.request_log()[-1]["query"]
    assert ("pair" in query, "symbol" in query) == ((True, False) if price == "index" else (False, True))


def test_price_klines_carry_binance_zeros_and_counts(http):
    answer = http.get(f"{http.base}/binanceusdm/fapi/v1/premiumIndexKlines", timeout=10,
                      params={"symbol": "BTCUSDT", "interval": "5m", "startTime": T0, "limit": 2})
    row = answer.json()[0]
    assert row[5] == row[7] == row[9] == row[10] == row[11] == "0" and row[8] == 60
    assert row[6] == T0 + 5 * MINUTE - 1


def test_ccxt_asks_for_at_most_1000_klines_though_binance_serves_1500(client, emu):
    assert len(client.fetch_ohlcv(BTC, "1m", since=T0, limit=KLINE_MAX)) == 1000
    assert emu.request_log()[-1]["query"]["limit"] == "1000"
    assert forward(client, BTC, start=T0, end=T0 + DAY, limit=1000) == expected("trade", T0, 1440)


@pytest.mark.parametrize(("limit", "weight"), [(99, 1), (100, 2), (500, 5), (1000, 5), (1001, 10), (1500, 10)])
def test_kline_limits_up_to_1500_cost_their_documented_weight(http, limit, weight):
    params = {"symbol": "BTCUSDT", "interval": "1m", "startTime": str(T0), "limit": str(limit)}
    answer = http.get(f"{http.base}/binanceusdm/fapi/v1/markPriceKlines", params=params, timeout=10)
    assert len(answer.json()) == limit
    venue = BinanceUsdmVenue(CandleStore(["BTC/USDT"], {}))
    headers = [venue.usage_headers(Request("GET", "/fapi/v1/markPriceKlines", params, now_ms=T0)) for _ in range(2)]
    assert [int(h["X-MBX-USED-WEIGHT-1M"]) for h in headers] == [weight, 2 * weight]


def test_a_limit_over_1500_is_binances_error(http):
    answer = http.get(f"{http.base}/binanceusdm/fapi/v1/klines", timeout=10,
                      params={"symbol": "BTCUSDT", "interval": "1m", "limit": 1501})
    assert answer.status_code == 400 and answer.json()["code"] == -1130


def test_funding_history_is_the_series_with_its_mark_price_across_the_interval_change(client):
    symbol, change = perp.INTERVAL_CHANGE
    history = client.fetch_funding_rate_history(symbol, since=change - 2 * DAY, limit=20)
    events = perp.funding_events(symbol, change - 2 * DAY, change + 4 * DAY).head(20)
    assert [h["timestamp"] for h in history] == events["funding_ms"].to_list()
    assert [h["fundingRate"] for h in history] == events["rate"].to_list()
    assert [float(h["info"]["markPrice"]) for h in history] == events["mark"].to_list()
    gaps = set(np.diff(events["open_ms"].to_numpy()))
    assert gaps == {8 * HOUR, 4 * HOUR}


def test_funding_history_pages_with_its_limit_and_serves_the_newest_without_since(client, http):
    with pytest.raises(ccxt.BadRequest):
        client.fetch_funding_rate_history(BTC, since=T0, limit=1001)
    newest = client.fetch_funding_rate_history(BTC)
    assert len(newest) == 100 and newest[-1]["timestamp"] <= time.time() * 1000
    assert newest[-1]["timestamp"] - newest[0]["timestamp"] > 99 * 8 * HOUR - 1000


def test_funding_info_lists_only_the_adjusted_instrument_with_its_interval_and_caps(client):
    intervals = client.fetch_funding_intervals()
    assert {symbol: row["interval"] for symbol, row in intervals.items()} == {perp.INTERVAL_CHANGE[0]: "4h"}
    cap = perp.terms_at(perp.INTERVAL_CHANGE[0], time.time_ns() // 1_000_000).cap
    assert intervals[perp.INTERVAL_CHANGE[0]]["info"] == {
        "symbol": "ETHUSDT", "adjustedFundingRateCap": f"{cap:.8f}", "adjustedFundingRateFloor": f"{-cap:.8f}",
        "fundingIntervalHours": 4, "disclaimer": False}
    assert cap == perp.ADJUSTED_CAP == 0.02  # BTC, never adjusted, is absent: its default cap is stated nowhere


def test_a_rate_fault_serves_every_funding_event_at_its_rate_and_leaves_candles_alone(client, emu):
    funding, candles = client.fetch_funding_rate_history(BTC, since=T0, limit=3), expected("trade", T0, 2)
    emu.add_fault("binanceusdm:rate:0.01@2")
    faulted = client.fetch_funding_rate_history(BTC, since=T0, limit=3)
    assert client.fetch_ohlcv(BTC, "1m", since=T0, limit=2) == candles
    assert [f["fundingRate"] for f in faulted] == [0.01] * 3 and [f["fundingRate"] for f in funding] != [0.01] * 3
    assert [f["timestamp"] for f in faulted] == [f["timestamp"] for f in funding]


def test_open_interest_is_the_series_within_the_latest_30_days(client):
    now = int(time.time() * 1000)
    since = (now - 2 * DAY) // (5 * MINUTE) * 5 * MINUTE
    history = client.fetch_open_interest_history(BTC, "5m", since=since, limit=500)
    series = perp.open_interest(BTC, since, since + 500 * 5 * MINUTE)
    assert len(history) == 500
    assert [h["timestamp"] for h in history] == series["open_ms"].to_list()
    assert [h["openInterestAmount"] for h in history] == series["amount"].to_list()
    assert [h["openInterestValue"] for h in history] == series["value"].to_list()


def test_open_interest_refuses_windows_older_than_30_days_and_limits_over_500(client, emu):
    now = int(time.time() * 1000)
    with pytest.raises(ccxt.BadRequest, match="startTime"):
        client.fetch_open_interest_history(BTC, "5m", since=now - OPEN_INTEREST_DEPTH_MS - HOUR, limit=10)
    with pytest.raises(ccxt.BadRequest, match="limit"):
        client.fetch_open_interest_history(BTC, "5m", since=now - DAY, limit=501)
    newest = client.fetch_open_interest_history(BTC, "2h", limit=500)  # 500 x 2 h reach 41 days back
    assert newest[0]["timestamp"] >= now - OPEN_INTEREST_DEPTH_MS and len(newest) in (360, 361)


def test_an_outage_hits_data_requests_in_binances_shape(client, emu):
    emu.add_fault("binanceusdm:status:503@2")
    with pytest.raises(ccxt.OperationFailed):
        client.fetch_funding_rate_history(BTC, since=T0, limit=5)
    with pytest.raises(ccxt.OperationFailed):
        client.fetch_ohlcv(BTC, "1m", since=T0, limit=5, params={"price": "mark"})
    assert client.fetch_ohlcv(BTC, "1m", since=T0, limit=5) == expected("trade", T0, 5)
    assert [r["status"] for r in emu.request_log()] == [503, 503, 200]


def test_holes_drop_funding_events_the_way_they_drop_candles(client, emu):
    emu.add_fault("binanceusdm:holes:0.5@1")
    holed = client.fetch_funding_rate_history(BTC, since=T0, limit=30)
    whole = client.fetch_funding_rate_history(BTC, since=T0, limit=30)
    assert 0 < len(holed) < len(whole) == 30
    assert {h["timestamp"] for h in holed} < {h["timestamp"] for h in whole}


def test_unknown_symbols_and_periods_are_binances_errors(http):
    base = f"{http.base}/binanceusdm"
    bad_symbol = http.get(f"{base}/fapi/v1/fundingRate", params={"symbol": "NOPEUSDT"}, timeout=10)
    bad_period = http.get(f"{base}/futures/data/openInterestHist", params={"symbol": "BTCUSDT", "period": "1m"},
                          timeout=10)
    assert (bad_symbol.status_code, bad_symbol.json()["code"]) == (400, -1121)
    assert (bad_period.status_code, bad_period.json()["code"]) == (400, -1130)


def test_a_price_offset_moves_perpetual_candles_and_leaves_funding_alone(client, emu):
    emu.set_price_offset("binanceusdm", 100)
    candle = client.fetch_ohlcv(BTC, "1m", since=T0, limit=1)[0]
    premium = client.fetch_ohlcv(BTC, "1m", since=T0, limit=1, params={"price": "premiumIndex"})[0]
    funding = client.fetch_funding_rate_history(BTC, since=T0, limit=3)
    emu.add_fault("binanceusdm:spike@1")
    spiked = client.fetch_funding_rate_history(BTC, since=T0, limit=3)
    emu.clear_price_offsets()
    assert candle[4] == round(expected("trade", T0, 1)[0][4] * 1.01, 2)
    assert premium[4] == round(expected("premium", T0, 1)[0][4] * 1.01, 8) != 0  # not rounded to the price tick
    assert funding == spiked == client.fetch_funding_rate_history(BTC, since=T0, limit=3)
