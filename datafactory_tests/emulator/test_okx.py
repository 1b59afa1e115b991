"""The OKX dialect through the real ccxt client and raw HTTP: markets, both candle endpoints, edges, errors, faults."""

import time

import ccxt
import pytest

from datafactory_assets.emulator.candles import DEFAULT_SYMBOLS
from datafactory_assets.emulator.okx import OkxVenue
from datafactory_assets.emulator.store import CandleStore
from datafactory_assets.emulator.venue import Request
from datafactory_tests.emulator.helpers import DAY, HOUR, MINUTE, SPOT_ONLY, T0, ccxt_client, expected_rows, forward


@pytest.fixture(scope="module")
def ccxt_venue():
    return "okx", SPOT_ONLY


def candles(http, path="candles", **query):
    return http.get(f"{http.base}/okx/api/v5/market/{path}", params={"instId": "BTC-USDT", **query})


def now_ms():
    return time.time_ns() // 1_000_000


def test_default_ccxt_loads_the_spot_markets_the_usdt_swaps_and_empty_futures_and_options(emu):
    exchange = ccxt_client("okx", emu.url)
    swaps = {f"{symbol}:USDT" for symbol in DEFAULT_SYMBOLS if symbol.endswith("/USDT")}
    assert set(exchange.load_markets()) == set(DEFAULT_SYMBOLS) | swaps
    assert [r["query"]["instType"] for r in emu.request_log()] == ["SPOT", "FUTURES", "SWAP", "OPTION", "OPTION"]


def test_spot_only_option_makes_one_request_and_markets_look_like_okx(emu):
    exchange = ccxt_client("okx", emu.url, **SPOT_ONLY)
    markets = exchange.load_markets()
    assert [r["path"] for r in emu.request_log()] == ["/api/v5/public/instruments"]
    btc, eth_btc = markets["BTC/USDT"], markets["ETH/BTC"]
    assert (btc["id"], btc["type"], btc["spot"], btc["active"]) == ("BTC-USDT", "spot", True, True)
    assert btc["precision"] == {"amount": 1e-05, "price": 0.01} and eth_btc["precision"]["price"] == 1e-08


@pytest.mark.parametrize("symbol", ["BTC/USDT", "XRP/USDT", "ETH/BTC"])
def test_an_old_window_comes_from_history_candles_exactly(emu, client, symbol):
    assert client.fetch_ohlcv(symbol, "1m", since=T0, limit=100) == expected_rows(symbol, T0, 100)
    request = emu.request_log()[-1]
    assert request["path"] == "/api/v5/market/history-candles"
    assert (request["query"]["before"], request["query"]["after"]) == (str(T0 - 1), str(T0 + 100 * MINUTE))


@pytest.mark.parametrize(("timeframe", "timeframe_ms", "bar"),
                         [("5m", 5 * MINUTE, "5m"), ("1h", HOUR, "1H"), ("4h", 4 * HOUR, "4H"), ("1d", DAY, "1Dutc")])
def test_other_bars_as_ccxt_names_them(emu, client, timeframe, timeframe_ms, bar):
    assert client.fetch_ohlcv("SOL/USDT", timeframe, since=T0, limit=50) == expected_rows(
        "SOL/USDT", T0, 50, timeframe_ms)
    assert emu.request_log()[-1]["query"]["bar"] == bar


def test_forward_pagination_over_a_past_window_returns_every_candle_once(emu, client):
    start, count = T0 + 17 * MINUTE, 456
    assert forward(client, "BTC/USDT", start=start, end=start + count * MINUTE, limit=100) == expected_rows(
        "BTC/USDT", start, count)
    assert len(emu.request_log()) == 5


def test_forward_pagination_crosses_from_history_into_the_recent_endpoint(emu, client):
    now = now_ms()
    start, end = (now // MINUTE - 1600) * MINUTE, (now // MINUTE - 2) * MINUTE
    rows = forward(client, "ETH/USDT", start=start, end=end, limit=100)
    assert rows == expected_rows("ETH/USDT", start, (end - start) // MINUTE)
    assert {r["path"].rsplit("/", 1)[1] for r in emu.request_log()} == {"history-candles", "candles"}


def test_the_recent_endpoint_serves_only_the_latest_1440_candles(http):
    now = now_ms()
    current = now // MINUTE * MINUTE
    old = candles(http, after=current - 1500 * MINUTE, limit=10).json()
    assert old == {"code": "0", "msg": "", "data": []}
    assert len(candles(http, "history-candles", after=current - 1500 * MINUTE, limit=10).json()["data"]) == 10
    oldest = candles(http, after=current - 1435 * MINUTE, limit=300).json()["data"]
    if now_ms() // MINUTE * MINUTE == current:  # the window did not slide meanwhile
        assert [int(row[0]) for row in oldest] == [current - k * MINUTE for k in range(1436, 1440)]


def test_limits_are_capped_quietly_and_a_page_is_the_newest_before_after(http):
    assert len(candles(http, after=now_ms()).json()["data"]) == 100
    assert len(candles(http, limit=1000).json()["data"]) == 300
    data = candles(http, "history-candles", before=T0 - 1, after=T0 + 300 * MINUTE, limit=300).json()["data"]
    assert [int(row[0]) for row in data] == [T0 + k * MINUTE for k in range(299, -1, -1)]  # 300 from history too
    capped = candles(http, "history-candles", before=T0 - 1, after=T0 + 400 * MINUTE, limit=400).json()["data"]
    assert len(capped) == 300


def test_before_alone_gets_the_newest_and_both_bounds_are_exclusive(http):
    current = now_ms() // MINUTE * MINUTE
    newest = candles(http, before=current - 10 * MINUTE, limit=300).json()["data"]
    assert [int(row[0]) for row in newest][-1] == current - 9 * MINUTE and len(newest) in (9, 10)
    data = candles(http, "history-candles", before=T0, after=T0 + 3 * MINUTE).json()["data"]
    assert [int(row[0]) for row in data] == [T0 + 2 * MINUTE, T0 + MINUTE]


def test_rows_are_nine_strings_newest_first_with_the_confirm_flag(http):
    row = candles(http, "history-candles", after=T0 + MINUTE, limit=1).json()["data"][0]
    candle = expected_rows("BTC/USDT", T0, 1)[0]
    assert len(row) == 9 and all(isinstance(value, str) for value in row)
    assert [int(row[0]), *map(float, row[1:6])] == candle and row[6] == row[7] and row[8] == "1"
    live = candles(http, limit=2).json()["data"]
    assert live[0][8] == "0" and live[1][8] == "1" and int(live[0][0]) - int(live[1][0]) == MINUTE


def test_until_ends_the_page_so_a_long_window_gets_its_newest_candles(client):
    """ccxt sends `until` as `after`: OKX then serves the newest `limit` candles before it, not those after since."""
    rows = client.fetch_ohlcv("BTC/USDT", "1m", since=T0, limit=100, params={"until": T0 + 1000 * MINUTE})
    assert rows == expected_rows("BTC/USDT", T0 + 900 * MINUTE, 100)


def test_unknown_instrument_is_a_200_with_code_51001_and_ccxt_raises_bad_symbol(http, client):
    answer = candles(http, instId="NOPE-USDT")
    assert answer.status_code == 200
    assert answer.json() == {"code": "51001", "msg": "Instrument ID does not exist", "data": []}
    with pytest.raises(ccxt.BadSymbol):
        client.publicGetMarketCandles({"instId": "NOPE-USDT"})


@pytest.mark.parametrize(
    ("query", "code"),
    [({"instId": ""}, "50014"), ({"bar": "1D"}, "51000"), ({"bar": "7m"}, "51000"), ({"after": "soon"}, "51000"),
     ({"limit": "0"}, "51000"), ({"before": "99999999999999999999"}, "51000")],
)
def test_bad_parameters_get_okx_400s_that_ccxt_raises_as_bad_request(http, client, query, code):
    answer = candles(http, **query)
    assert answer.status_code == 400 and answer.json()["code"] == code and answer.json()["data"] == []
    with pytest.raises(ccxt.BadRequest):
        client.publicGetMarketHistoryCandles({"instId": "BTC-USDT", **query})


def test_instruments_need_a_known_type(http):
    base = f"{http.base}/okx/api/v5/public/instruments"
    assert http.get(base).json()["code"] == "50014"
    assert http.get(base, params={"instType": "BONDS"}).json()["code"] == "51000"
    assert http.get(f"{http.base}/okx/api/v5/public/time").json()["data"][0]["ts"].isdigit()


def test_garbage_fault_hits_candles_and_ccxt_returns_nothing_without_a_json_response(emu, client):
    emu.add_fault("okx:garbage@1")
    assert client.load_markets(reload=True)  # instruments are not data: the fault waits
    assert client.fetch_ohlcv("BTC/USDT", "1m", since=T0, limit=10) == []
    assert client.last_json_response is None
    assert len(client.fetch_ohlcv("BTC/USDT", "1m", since=T0, limit=10)) == 10


@pytest.mark.parametrize(
    ("spec", "status", "code", "error"),
    [("okx:status:503", 503, "50001", ccxt.OnMaintenance), ("okx:status:429", 429, "50011", ccxt.RateLimitExceeded),
     ("okx:status:500", 500, "50026", ccxt.ExchangeNotAvailable), ("okx:status:400", 400, "51000", ccxt.BadRequest)],
)
def test_status_faults_answer_okx_error_bodies(emu, http, client, spec, status, code, error):
    emu.add_fault(spec)
    answer = candles(http, "history-candles", after=T0)
    assert answer.status_code == status and answer.json()["code"] == code and answer.json()["data"] == []
    with pytest.raises(error):
        client.fetch_ohlcv("BTC/USDT", "1m", since=T0, limit=10)


def test_only_past_history_pages_are_cacheable():
    venue = OkxVenue(CandleStore(["BTC/USDT"], {}))
    now = now_ms()

    def answer(path, after):
        query = {"instId": "BTC-USDT", "after": str(after)}
        return venue.respond(Request(method="GET", path=f"/api/v5/market/{path}", query=query, now_ms=now))

    assert answer("history-candles", T0).cacheable and not answer("history-candles", now + HOUR).cacheable
    assert not answer("candles", now - HOUR).cacheable  # it ages out of the recent endpoint
    assert venue.is_data(Request("GET", "/api/v5/market/candles", {}, now))
    assert not venue.is_data(Request("GET", "/api/v5/public/instruments", {}, now))
