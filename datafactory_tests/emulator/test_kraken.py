"""The Kraken dialect through the real ccxt client and raw HTTP: legacy names, the 720-candle window, errors, faults."""

import time

import ccxt
import pytest

from datafactory_assets.emulator.candles import DEFAULT_SYMBOLS, LISTED_SINCE_MS
from datafactory_assets.emulator.kraken import WINDOW, KrakenVenue
from datafactory_assets.emulator.server import Emulator
from datafactory_assets.emulator.store import CandleStore
from datafactory_assets.emulator.venue import Request
from datafactory_tests.emulator.helpers import DAY, HOUR, MINUTE, T0, ccxt_client, expected_rows


@pytest.fixture(scope="module")
def ccxt_venue():
    return "kraken", {}  # ccxt's defaults: markets come from Assets and AssetPairs, both public


def ohlc(http, **query):
    return http.get(f"{http.base}/kraken/0/public/OHLC", params={"pair": "XBTUSDT", **query})


def open_now(timeframe_ms=MINUTE):
    return time.time_ns() // 1_000_000 // timeframe_ms * timeframe_ms


def test_ccxt_loads_markets_from_assets_and_asset_pairs_with_kraken_names(emu):
    exchange = ccxt_client("kraken", emu.url)
    markets = exchange.load_markets()
    assert set(markets) == set(DEFAULT_SYMBOLS)
    assert [entry["path"] for entry in emu.request_log()] == ["/0/public/Assets", "/0/public/AssetPairs"]
    ids = {symbol: market["id"] for symbol, market in markets.items()}
    assert ids["BTC/USDT"] == "XBTUSDT" and ids["DOGE/USDT"] == "XDGUSDT" and ids["ETH/BTC"] == "XETHXXBT"
    assert ids["ETH/USDT"] == "ETHUSDT" and ids["SOL/USDT"] == "SOLUSDT" and ids["ADA/USDT"] == "ADAUSDT"
    btc = markets["BTC/USDT"]
    assert (btc["baseId"], btc["info"]["base"], btc["info"]["altname"], btc["info"]["wsname"]) == (
        "BTC", "XXBT", "XBTUSDT", "XBT/USDT")
    assert all(m["active"] and m["spot"] for m in markets.values())
    assert btc["precision"]["price"] == 0.01 and markets["ADA/USDT"]["precision"]["price"] == 1e-8
    assert exchange.currencies["BTC"]["id"] == "XXBT" and exchange.currencies["DOGE"]["id"] == "XXDG"


def test_legacy_fiat_pairs_are_keyed_by_their_asset_ids():
    with Emulator(symbols=["BTC/USD", "ETH/EUR", "DOGE/USD", "SOL/EUR"]) as emu:
        exchange = ccxt_client("kraken", emu.url)
        ids = {symbol: market["id"] for symbol, market in exchange.load_markets().items()}
        assert ids == {"BTC/USD": "XXBTZUSD", "ETH/EUR": "XETHZEUR", "DOGE/USD": "XDGUSD", "SOL/EUR": "SOLEUR"}
        rows = exchange.fetch_ohlcv("BTC/USD", "1h", limit=3)
        assert rows[:-1] == expected_rows("BTC/USD", rows[0][0], 2, HOUR)


def test_without_since_the_window_is_720_rows_the_last_one_still_open(client):
    before = open_now()
    rows = client.fetch_ohlcv("BTC/USDT", "1m")
    after = open_now()
    assert len(rows) == WINDOW and before <= rows[-1][0] <= after
    assert rows == expected_rows("BTC/USDT", rows[0][0], WINDOW)
    assert client.last_json_response["result"]["last"] * 1000 == rows[-2][0]  # the newest committed candle


@pytest.mark.parametrize(("symbol", "timeframe", "timeframe_ms"),
                         [("ETH/USDT", "5m", 5 * MINUTE), ("ADA/USDT", "1h", HOUR), ("ETH/BTC", "1d", DAY)])
def test_other_intervals_serve_their_own_window(client, symbol, timeframe, timeframe_ms):
    rows = client.fetch_ohlcv(symbol, timeframe)
    assert len(rows) == WINDOW and rows == expected_rows(symbol, rows[0][0], WINDOW, timeframe_ms)


def test_a_window_inside_the_recent_720_is_served_exactly(client):
    since = open_now() - 300 * MINUTE
    rows = client.fetch_ohlcv("SOL/USDT", "1m", since=since, limit=100)
    assert rows == expected_rows("SOL/USDT", since, 100)


def test_since_is_exclusive_in_seconds_and_only_trims_the_front(http):
    since_ms = open_now() - 10 * MINUTE
    rows = ohlc(http, since=since_ms // 1000).json()["result"]["XBTUSDT"]
    assert rows[0][0] * 1000 == since_ms + MINUTE and len(rows) in (10, 11)
    assert ohlc(http, since=since_ms // 1000 - 1).json()["result"]["XBTUSDT"][0][0] * 1000 == since_ms


def test_an_old_window_is_answered_with_the_recent_one_not_an_error(client):
    rows = client.fetch_ohlcv("BTC/USDT", "1m", since=T0, limit=10)
    assert len(rows) == 10 and rows[0][0] >= open_now() - WINDOW * MINUTE - MINUTE
    assert not any(T0 <= row[0] < T0 + 10 * MINUTE for row in rows)  # none of the asked-for candles came
    assert rows == expected_rows("BTC/USDT", rows[0][0], 10)
    assert client.fetch_ohlcv("BTC/USDT", "1d", since=LISTED_SINCE_MS, limit=1)[0][0] > LISTED_SINCE_MS + 700 * DAY


def test_a_since_in_the_future_still_gets_the_open_candle(http):
    before = open_now()
    rows = ohlc(http, since=(before + 60 * MINUTE) // 1000).json()["result"]["XBTUSDT"]
    assert len(rows) == 1 and before <= rows[0][0] * 1000 <= open_now()


def test_rows_are_kraken_eight_field_arrays(http):
    answer = ohlc(http, interval=60).json()
    assert answer["error"] == [] and set(answer["result"]) == {"XBTUSDT", "last"}
    time_s, *strings, count = answer["result"]["XBTUSDT"][0]
    candle = expected_rows("BTC/USDT", time_s * 1000, 1, HOUR)[0]
    assert isinstance(time_s, int) and isinstance(count, int) and count > 0
    assert all(isinstance(value, str) for value in strings)
    open_, high, low, close, vwap, volume = map(float, strings)
    assert [open_, high, low, close, volume] == candle[1:] and low <= vwap <= high


def test_the_altname_is_accepted_and_answered_under_the_pair_key(http):
    answer = ohlc(http, pair="ETHXBT", interval=1440).json()
    assert set(answer["result"]) == {"XETHXXBT", "last"}


def test_the_window_moves_with_time_so_it_is_never_cached():
    venue = KrakenVenue(CandleStore(["BTC/USDT"], {}))
    answer = venue.respond(Request("GET", "/0/public/OHLC", {"pair": "XBTUSDT", "since": "1"}, now_ms=T0))
    assert answer.status == 200 and not answer.cacheable


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"pair": "NOPEUSDT"}, "EQuery:Unknown asset pair"),
        ({"pair": ""}, "EGeneral:Invalid arguments"),
        ({"interval": "7"}, "EGeneral:Invalid arguments"),
        ({"since": "yesterday"}, "EGeneral:Invalid arguments"),
    ],
)
def test_refusals_are_http_200_with_the_error_named(http, query, error):
    answer = ohlc(http, **query)
    assert answer.status_code == 200 and answer.json() == {"error": [error]}


def test_unknown_pair_through_ccxt(client):
    with pytest.raises(ccxt.BadSymbol):  # not listed: ccxt refuses before asking
        client.fetch_ohlcv("NOPE/USDT", "1m")
    with pytest.raises(ccxt.ExchangeError, match="EQuery:Unknown asset pair") as raised:
        client.publicGetOHLC({"pair": "NOPEUSDT"})
    assert type(raised.value) is ccxt.ExchangeError  # ccxt maps only "EQuery:Unknown asset" to BadSymbol


def test_unknown_path_is_unknown_method(http):
    answer = http.get(f"{http.base}/kraken/0/public/Nope")
    assert answer.status_code == 404 and answer.json() == {"error": ["EGeneral:Unknown method"]}


@pytest.mark.parametrize(
    ("spec", "status", "error", "exception"),
    [
        ("kraken:status:503@1", 503, "EService:Unavailable", ccxt.ExchangeNotAvailable),
        ("kraken:status:429@1", 429, "EGeneral:Too many requests", ccxt.DDoSProtection),
        ("kraken:status:500@1", 500, "EGeneral:Internal error", ccxt.ExchangeNotAvailable),
    ],
)
def test_status_faults_hit_ohlc_in_kraken_shape(emu, http, client, spec, status, error, exception):
    emu.add_fault(spec)
    answer = ohlc(http)
    assert answer.status_code == status and answer.json() == {"error": [error]}
    emu.add_fault(spec)
    with pytest.raises(exception, match=error):
        client.fetch_ohlcv("BTC/USDT", "1m", limit=5)


def test_garbage_hits_ohlc_only_and_ccxt_sees_no_candles_and_no_json(emu):
    emu.add_fault("kraken:garbage")
    exchange = ccxt_client("kraken", emu.url)
    exchange.enableLastJsonResponse = True
    exchange.load_markets()  # Assets and AssetPairs are not candle requests
    assert exchange.fetch_ohlcv("BTC/USDT", "1m", limit=5) == [] and exchange.last_json_response is None
    assert [entry["fault"] for entry in emu.request_log()] == [None, None, "kraken:garbage"]
