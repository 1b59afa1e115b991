"""The Bybit dialect through the real ccxt client and raw HTTP: markets, klines, edges, errors, headers, faults."""

import time

import ccxt
import pytest

from datafactory_assets.emulator.bybit import BybitVenue
from datafactory_assets.emulator.candles import DEFAULT_SYMBOLS, LISTED_SINCE_MS
from datafactory_assets.emulator.server import Emulator
from datafactory_assets.emulator.store import CandleStore
from datafactory_assets.emulator.venue import Request
from datafactory_tests.emulator.helpers import DAY, HOUR, MINUTE, SPOT_ONLY, T0, ccxt_client, expected_rows, forward


@pytest.fixture(scope="module")
def ccxt_venue():
    return "bybit", SPOT_ONLY


def kline(http, **query):
    params = {"category": "spot", "symbol": "BTCUSDT", "interval": "1", **query}
    return http.get(f"{http.base}/bybit/v5/market/kline", params=params)


def opens(answer):
    return [int(row[0]) for row in answer.json()["result"]["list"]]


def test_default_ccxt_loads_the_spot_markets_the_linear_perpetuals_and_empty_other_lists(emu):
    swaps = {f"{symbol}:USDT" for symbol in DEFAULT_SYMBOLS if symbol.endswith("/USDT")}
    assert set(ccxt_client("bybit", emu.url).load_markets()) == set(DEFAULT_SYMBOLS) | swaps
    categories = {r["query"]["category"] for r in emu.request_log()}
    assert categories == {"spot", "linear", "inverse", "option"} and all(r["status"] == 200 for r in emu.request_log())


def test_spot_only_option_makes_one_request_and_markets_look_like_bybit(emu):
    markets = ccxt_client("bybit", emu.url, **SPOT_ONLY).load_markets()
    assert [r["path"] for r in emu.request_log()] == ["/v5/market/instruments-info"]
    btc = markets["BTC/USDT"]
    assert (btc["id"], btc["type"], btc["spot"], btc["active"]) == ("BTCUSDT", "spot", True, True)
    assert btc["precision"] == {"amount": 1e-05, "price": 0.01} and markets["ADA/USDT"]["precision"]["price"] == 1e-08
    assert btc["limits"]["cost"] == {"min": 5.0, "max": 2000000.0}


@pytest.mark.parametrize("symbol", ["BTC/USDT", "DOGE/USDT", "ETH/BTC"])
def test_ccxt_gets_exactly_the_synthetic_values(emu, client, symbol):
    assert client.fetch_ohlcv(symbol, "1m", since=T0, limit=1000) == expected_rows(symbol, T0, 1000)
    assert emu.request_log()[-1]["query"] == {"category": "spot", "symbol": symbol.replace("/", ""), "interval": "1",
                                              "start": str(T0), "limit": "1000"}


@pytest.mark.parametrize(("timeframe", "timeframe_ms", "interval"),
                         [("5m", 5 * MINUTE, "5"), ("1h", HOUR, "60"), ("12h", 12 * HOUR, "720"), ("1d", DAY, "D")])
def test_other_intervals_as_ccxt_names_them(emu, client, timeframe, timeframe_ms, interval):
    assert client.fetch_ohlcv("SOL/USDT", timeframe, since=T0, limit=50) == expected_rows(
        "SOL/USDT", T0, 50, timeframe_ms)
    assert emu.request_log()[-1]["query"]["interval"] == interval


def test_forward_pagination_over_a_past_window_returns_every_candle_once(emu, client):
    start, count = T0 + 7 * MINUTE, 2345
    rows = forward(client, "BNB/USDT", start=start, end=start + count * MINUTE, limit=1000)
    assert rows == expected_rows("BNB/USDT", start, count) and len(emu.request_log()) == 3


def test_start_alone_pages_forward_from_the_candle_containing_it(http):
    assert opens(kline(http, start=T0 + 30_000, limit=3)) == [T0 + 2 * MINUTE, T0 + MINUTE, T0]
    assert opens(kline(http, start=0, limit=2)) == [LISTED_SINCE_MS + MINUTE, LISTED_SINCE_MS]


def test_an_end_gets_the_newest_limit_candles_up_to_it_even_with_a_start(http):
    assert opens(kline(http, start=T0, end=T0 + 9 * MINUTE, limit=2)) == [T0 + 9 * MINUTE, T0 + 8 * MINUTE]
    assert opens(kline(http, start=T0, end=T0 + MINUTE + 1, limit=5)) == [T0 + MINUTE, T0]
    assert opens(kline(http, end=T0, limit=2)) == [T0, T0 - MINUTE]
    assert opens(kline(http, start=T0 + MINUTE, end=T0)) == []


def test_until_ends_the_page_so_a_long_window_gets_its_newest_candles(client):
    """ccxt sends `until` as `end`: Bybit then serves the newest `limit` candles up to it, not those from since."""
    rows = client.fetch_ohlcv("BTC/USDT", "1m", since=T0, limit=1000, params={"until": T0 + 1999 * MINUTE})
    assert rows == expected_rows("BTC/USDT", T0 + 1000 * MINUTE, 1000)


def test_without_bounds_the_newest_end_with_the_open_candle(http):
    before = time.time_ns() // 1_000_000
    newest = opens(kline(http, limit=3))
    assert newest[0] // MINUTE >= before // MINUTE and newest == [newest[0] - k * MINUTE for k in range(3)]


def test_limit_defaults_to_200_and_over_1000_is_refused(http, client):
    assert len(opens(kline(http, start=T0))) == 200
    assert len(opens(kline(http, start=T0, limit=1000))) == 1000
    refused = kline(http, start=T0, limit=1001)
    assert refused.status_code == 200 and refused.json()["retCode"] == 10001
    with pytest.raises(ccxt.BadRequest):
        client.fetch_ohlcv("BTC/USDT", "1m", since=T0, limit=1001)


def test_rows_are_seven_strings_newest_first_in_the_v5_envelope(http):
    body = kline(http, start=T0, limit=2).json()
    assert (body["retCode"], body["retMsg"], body["retExtInfo"]) == (0, "OK", {}) and isinstance(body["time"], int)
    assert (body["result"]["category"], body["result"]["symbol"]) == ("spot", "BTCUSDT")
    newest, oldest = body["result"]["list"]
    assert len(newest) == 7 and all(isinstance(value, str) for value in newest)
    candle = expected_rows("BTC/USDT", T0, 1)[0]
    assert [int(oldest[0]), *map(float, oldest[1:6])] == candle and float(oldest[6]) > 0
    assert int(newest[0]) == T0 + MINUTE


def test_unknown_symbol_reads_not_supported_symbols_and_ccxt_raises_bad_symbol(http, client):
    answer = kline(http, symbol="NOPEUSDT")
    assert answer.status_code == 200
    assert (answer.json()["retCode"], answer.json()["retMsg"]) == (10001, "Not supported symbols")
    assert kline(http, category="inverse").json()["retMsg"] == "Not supported symbols"  # no inverse contracts here
    assert kline(http, category="linear", symbol="ETHBTC").json()["retMsg"] == "Not supported symbols"
    with pytest.raises(ccxt.BadSymbol):
        client.publicGetV5MarketKline({"category": "spot", "symbol": "NOPEUSDT", "interval": "1"})


@pytest.mark.parametrize("query", [{"interval": "7"}, {"interval": "W"}, {"symbol": ""}, {"category": "bonds"},
                                   {"start": "yesterday"}, {"limit": "0"}, {"end": "99999999999999999999"}])
def test_bad_parameters_get_retcode_10001_that_ccxt_raises_as_bad_request(http, client, query):
    answer = kline(http, **query)
    assert answer.status_code == 200 and answer.json()["retCode"] == 10001 and answer.json()["result"] == {}
    with pytest.raises(ccxt.BadRequest):
        client.publicGetV5MarketKline({"category": "spot", "symbol": "BTCUSDT", "interval": "1", **query})


def test_every_answer_carries_the_rate_limit_headers(http):
    first = kline(http, start=T0, limit=1).headers
    second = http.get(f"{http.base}/bybit/v5/market/time").headers
    assert first["X-Bapi-Limit"] == "600" and int(first["X-Bapi-Limit-Reset-Timestamp"]) % 5000 == 0
    assert int(second["X-Bapi-Limit-Status"]) in (int(first["X-Bapi-Limit-Status"]) - 1, 599)


def test_time_and_instruments_need_a_category(http):
    assert http.get(f"{http.base}/bybit/v5/market/instruments-info").json()["retCode"] == 10001
    result = http.get(f"{http.base}/bybit/v5/market/time").json()["result"]
    assert result["timeNano"].startswith(result["timeSecond"])


def test_garbage_fault_hits_klines_and_ccxt_returns_nothing_without_a_json_response(emu, client):
    emu.add_fault("bybit:garbage@1")
    assert client.load_markets(reload=True)  # instruments are not data: the fault waits
    assert client.fetch_ohlcv("BTC/USDT", "1m", since=T0, limit=10) == []
    assert client.last_json_response is None
    assert len(client.fetch_ohlcv("BTC/USDT", "1m", since=T0, limit=10)) == 10


@pytest.mark.parametrize(
    ("spec", "status", "error"),
    [("bybit:status:503", 503, ccxt.ExchangeNotAvailable), ("bybit:status:429", 429, ccxt.RateLimitExceeded),
     ("bybit:status:403", 403, ccxt.RateLimitExceeded), ("bybit:status:400", 400, ccxt.BadRequest)],
)
def test_status_faults_answer_as_bybit_and_its_gateway_do(emu, http, client, spec, status, error):
    emu.add_fault(spec)
    answer = kline(http, start=T0, limit=1)
    assert answer.status_code == status and "X-Bapi-Limit-Status" in answer.headers
    if status == 403:  # the IP ban: no JSON envelope, only the words the docs quote
        assert answer.text == "403, access too frequent"
    elif status < 500:
        assert answer.json()["retCode"] in (10001, 10006)
    else:
        assert answer.headers["Content-Type"] == "text/html"
    with pytest.raises(error):
        client.fetch_ohlcv("BTC/USDT", "1m", since=T0, limit=10)


def test_over_its_quota_bybit_bans_the_ip_with_403_for_ten_minutes_not_429():
    with Emulator(budgets={"bybit": 3}) as emu:
        exchange = ccxt_client("bybit", emu.url, **SPOT_ONLY)
        exchange.load_markets()  # one request of the three
        for _ in range(2):
            exchange.fetch_ohlcv("BTC/USDT", "1m", since=T0, limit=10)
        for _ in range(2):  # the first request over the quota is banned at once, and so is every later one
            with pytest.raises(ccxt.RateLimitExceeded):
                exchange.fetch_ohlcv("BTC/USDT", "1m", since=T0, limit=10)
        assert [r["status"] for r in emu.request_log()] == [200, 200, 200, 403, 403]
        assert emu.budgets()["bybit"]["bans"] == 1 and emu.budgets()["bybit"]["banned_for_s"] > 590


def test_only_pages_that_can_never_change_are_cacheable():
    venue = BybitVenue(CandleStore(["BTC/USDT"], {}))
    now = time.time_ns() // 1_000_000

    def answer(**query):
        query = {"category": "spot", "symbol": "BTCUSDT", "interval": "1", **{k: str(v) for k, v in query.items()}}
        return venue.respond(Request(method="GET", path="/v5/market/kline", query=query, now_ms=now))

    assert answer(start=T0, limit=10).cacheable and answer(start=T0, end=T0 + HOUR).cacheable
    assert not answer(start=now - HOUR).cacheable and not answer(limit=5).cacheable
    assert venue.is_data(Request("GET", "/v5/market/kline", {}, now))
    assert not venue.is_data(Request("GET", "/v5/market/instruments-info", {}, now))
