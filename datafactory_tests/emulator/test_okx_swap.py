"""OKX swaps through the real ccxt `okx` client and raw HTTP: markets, trade/mark/index candles, funding-rate history
and open-interest history equal perp_series, with OKX's limits, depths, errors and faults."""

import time

import ccxt
import pytest

from datafactory_assets.emulator import perp_series
from datafactory_assets.emulator.okx_swap import FUNDING_DEPTH_MS, OI_DEPTH_ENTRIES
from datafactory_tests.emulator.helpers import DAY, HOUR, MINUTE, T0, expected_perp_rows

BTC = "BTC/USDT:USDT"
FIVE_MINUTES = 5 * MINUTE


@pytest.fixture(scope="module")
def ccxt_venue():
    return "okx", {"fetchMarkets": {"types": ["spot", "swap"]}}


def now_ms():
    return time.time_ns() // 1_000_000


def get(http, path, **query):
    return http.get(f"{http.base}/okx/api/v5/{path}", params=query)


def test_swaps_load_as_linear_usdt_perpetuals_with_okx_contract_values(client):
    btc, eth = client.market(BTC), client.market("ETH/USDT:USDT")
    assert (btc["id"], btc["type"], btc["linear"], btc["settle"], btc["contractSize"]) == (
        "BTC-USDT-SWAP", "swap", True, "USDT", 0.01)
    assert eth["contractSize"] == 0.1 and client.market("SOL/USDT:USDT")["contractSize"] == 1
    assert btc["info"]["instFamily"] == "BTC-USDT" and btc["created"] == perp_series.perp_listed_since_ms(BTC)


@pytest.mark.parametrize(("price", "path", "limit"), [
    (None, "history-candles", 300), ("mark", "history-mark-price-candles", 100),
    ("index", "history-index-candles", 100)])
def test_ccxt_gets_exactly_the_perp_series_candles(emu, client, price, path, limit):
    params = {"price": price} if price else {}
    rows = client.fetch_ohlcv(BTC, "1m", since=T0, limit=limit, params=params)
    assert rows == expected_perp_rows(BTC, price or "trade", T0, limit)
    request = emu.request_log()[-1]
    assert request["path"] == f"/api/v5/market/{path}"
    assert request["query"]["instId"] == ("BTC-USDT" if price == "index" else "BTC-USDT-SWAP")


def test_a_swap_trade_row_holds_contracts_coin_and_quote_volumes(http):
    row = get(http, "market/history-candles", instId="BTC-USDT-SWAP", after=T0 + MINUTE, limit=1).json()["data"][0]
    coin = expected_perp_rows(BTC, "trade", T0, 1)[0][5]
    assert len(row) == 9 and float(row[6]) == coin and float(row[5]) == pytest.approx(coin / 0.01)
    mark = get(http, "market/history-mark-price-candles", instId="BTC-USDT-SWAP", after=T0 + MINUTE).json()["data"]
    assert len(mark[0]) == 6 and mark[0][5] == "1"


@pytest.mark.parametrize("path", ["mark-price-candles", "history-mark-price-candles"])
def test_mark_and_index_pages_hold_at_most_100(http, path):
    assert len(get(http, f"market/{path}", instId="BTC-USDT-SWAP", limit=300).json()["data"]) == 100
    assert len(get(http, "market/index-candles", instId="BTC-USDT", limit=101).json()["data"]) == 100


def test_the_recent_mark_endpoint_serves_only_the_latest_1440(http):
    current = now_ms() // MINUTE * MINUTE
    old = get(http, "market/mark-price-candles", instId="BTC-USDT-SWAP", after=current - 1500 * MINUTE).json()
    assert old == {"code": "0", "msg": "", "data": []}
    history = get(http, "market/history-mark-price-candles", instId="BTC-USDT-SWAP", after=current - 1500 * MINUTE)
    assert len(history.json()["data"]) == 100


def test_mark_candles_need_the_swap_and_index_candles_the_index(http, client):
    answer = get(http, "market/mark-price-candles", instId="BTC-USDT")
    assert (answer.status_code, answer.json()["code"]) == (200, "51001")
    assert get(http, "market/index-candles", instId="BTC-USDT-SWAP").json()["code"] == "51001"
    with pytest.raises(ccxt.BadSymbol):
        client.publicGetMarketIndexCandles({"instId": "NOPE-USDT"})


def test_funding_history_pages_back_over_three_months_and_no_further(http):
    now = now_ms()
    times, rates, after = [], [], None
    while True:
        query = {"instId": "BTC-USDT-SWAP", **({} if after is None else {"after": after})}
        data = get(http, "public/funding-rate-history", **query).json()["data"]
        if not data:
            break
        assert len(data) <= 100 and [int(d["fundingTime"]) for d in data] == sorted(
            (int(d["fundingTime"]) for d in data), reverse=True)
        times += [int(d["fundingTime"]) for d in data]
        rates += [float(d["realizedRate"]) for d in data]
        after = data[-1]["fundingTime"]
    expected = perp_series.funding_events(BTC, now - FUNDING_DEPTH_MS, now + 1)
    assert times[::-1] == expected["open_ms"].to_list() and rates[::-1] == expected["rate"].to_list()
    assert len(times) == 3 * 90 or len(times) == 3 * 90 + 1  # 8-hourly over 90 days
    before = get(http, "public/funding-rate-history", instId="BTC-USDT-SWAP", after=now - FUNDING_DEPTH_MS - HOUR)
    assert before.json()["data"] == []


def test_ccxt_funding_history_reads_the_realized_rate(client):
    since = now_ms() - 10 * DAY
    history = client.fetch_funding_rate_history(BTC, since=since, limit=100)
    expected = perp_series.funding_events(BTC, since, now_ms() + 1)
    assert [(h["timestamp"], h["fundingRate"]) for h in history] == list(zip(expected["open_ms"], expected["rate"]))


@pytest.mark.parametrize(("symbol", "hours", "cap"), [(BTC, 8, perp_series.DEFAULT_CAP),
                                                      ("ETH/USDT:USDT", 4, perp_series.ADJUSTED_CAP)])
def test_ccxt_reads_the_current_funding_rate_with_its_interval_and_bounds(client, emu, symbol, hours, cap):
    before = now_ms()
    current = client.fetch_funding_rate(symbol)
    step = hours * HOUR
    settled = perp_series.funding_events(symbol, before - step - HOUR, now_ms() + 1).tail(1)
    assert emu.request_log()[-1]["path"] == "/api/v5/public/funding-rate"
    assert (current["symbol"], current["interval"], current["fundingRate"]) == (symbol, f"{hours}h",
                                                                               settled["rate"][0])
    assert current["fundingTimestamp"] == (before // step + 1) * step == int(current["info"]["prevFundingTime"]) + step
    assert current["nextFundingTimestamp"] == current["fundingTimestamp"] + step
    info = current["info"]
    assert (float(info["maxFundingRate"]), float(info["minFundingRate"])) == (cap, -cap)
    assert info["settFundingRate"] == info["fundingRate"] and info["nextFundingRate"] == ""
    assert set(info) == {"formulaType", "fundingRate", "fundingTime", "impactValue", "instId", "instType",
                         "interestRate", "maxFundingRate", "method", "minFundingRate", "nextFundingRate",
                         "nextFundingTime", "premium", "prevFundingTime", "settFundingRate", "settState", "ts"}


def test_the_current_funding_rate_of_an_unknown_swap_is_okx_51001(http):
    answer = get(http, "public/funding-rate", instId="NOPE-USDT-SWAP").json()
    assert (answer["code"], answer["data"]) == ("51001", [])


def test_ccxt_open_interest_history_equals_the_5m_series(emu, client):
    since = (now_ms() // FIVE_MINUTES - 40) * FIVE_MINUTES
    history = client.fetch_open_interest_history(BTC, "5m", since=since, limit=30)
    expected = perp_series.open_interest(BTC, since, since + 30 * FIVE_MINUTES)
    assert [h["timestamp"] for h in history] == expected["open_ms"].to_list()
    assert [h["baseVolume"] for h in history] == expected["amount"].to_list()
    assert [h["openInterestValue"] for h in history] == expected["value"].to_list()
    assert [h["openInterestAmount"] for h in history] == pytest.approx((expected["amount"] / 0.01).to_list())
    assert emu.request_log()[-1]["path"] == "/api/v5/rubik/stat/contracts/open-interest-history"


def test_open_interest_keeps_the_latest_1440_entries_per_period(http):
    latest = now_ms() // FIVE_MINUTES * FIVE_MINUTES
    oldest = latest - (OI_DEPTH_ENTRIES - 1) * FIVE_MINUTES
    query = {"instId": "BTC-USDT-SWAP", "period": "5m"}
    edge = get(http, "rubik/stat/contracts/open-interest-history", end=oldest + 3 * FIVE_MINUTES, **query).json()
    if now_ms() // FIVE_MINUTES * FIVE_MINUTES == latest:  # the window did not slide meanwhile
        assert [int(row[0]) for row in edge["data"]] == [oldest + 2 * FIVE_MINUTES, oldest + FIVE_MINUTES, oldest]
    assert get(http, "rubik/stat/contracts/open-interest-history", end=oldest - DAY, **query).json()["data"] == []
    assert len(get(http, "rubik/stat/contracts/open-interest-history", limit=500, **query).json()["data"]) == 100
    daily = get(http, "rubik/stat/contracts/open-interest-history", instId="BTC-USDT-SWAP", period="1Dutc", limit=3)
    assert [int(row[0]) % DAY for row in daily.json()["data"]] == [0, 0, 0]


def test_bad_requests_get_okx_codes(http, client):
    missing = get(http, "public/funding-rate-history", instId="BTC-USDT")
    assert (missing.status_code, missing.json()["code"]) == (200, "51001")
    for bad in ("7m", "1D"):  # plain 1D opens at Hong Kong midnight, which the emulator does not model
        period = get(http, "rubik/stat/contracts/open-interest-history", instId="BTC-USDT-SWAP", period=bad)
        assert (period.status_code, period.json()["code"]) == (400, "51000")
    with pytest.raises(ccxt.BadRequest):
        client.publicGetRubikStatContractsOpenInterestHistory({"instId": "BTC-USDT-SWAP", "period": "7m"})


def test_a_holes_fault_drops_mark_candles_and_a_status_fault_hits_funding(emu, client):
    emu.add_fault("okx:holes:0.5@1")
    holed = client.fetch_ohlcv(BTC, "1m", since=T0, limit=100, params={"price": "mark"})
    assert 0 < len(holed) < 100 and all(row in expected_perp_rows(BTC, "mark", T0, 100) for row in holed)
    emu.add_fault("okx:status:503@1")
    with pytest.raises(ccxt.OnMaintenance):
        client.fetch_funding_rate_history(BTC, limit=10)
    assert len(client.fetch_funding_rate_history(BTC, limit=10)) == 10


def test_a_price_offset_moves_swap_trade_prices_like_spot_ones(emu, client):
    emu.set_price_offset("okx", 100)
    shifted = client.fetch_ohlcv(BTC, "1m", since=T0, limit=3)
    assert [row[4] for row in shifted] == [round(row[4] * 1.01, 2) for row in expected_perp_rows(BTC, "trade", T0, 3)]
    assert len(client.fetch_funding_rate_history(BTC, limit=3)) == 3  # funding has no price to move


def test_spot_answers_are_unchanged_by_the_swaps(http):
    spot = get(http, "market/history-candles", instId="BTC-USDT", after=T0 + MINUTE, limit=1).json()["data"][0]
    swap = get(http, "market/history-candles", instId="BTC-USDT-SWAP", after=T0 + MINUTE, limit=1).json()["data"][0]
    assert spot[6] == spot[7] and spot != swap
