"""The Coinbase Advanced Trade dialect through the real ccxt client and raw HTTP: markets, candle pages, edges,
errors, faults."""

import time

import ccxt
import pytest

from datafactory_assets.emulator.candles import DEFAULT_SYMBOLS, LISTED_SINCE_MS
from datafactory_assets.emulator.coinbase import MAX_CANDLES, CoinbaseVenue
from datafactory_assets.emulator.store import CandleStore
from datafactory_assets.emulator.venue import Request
from datafactory_tests.emulator.helpers import DAY, HOUR, MINUTE, T0, ccxt_client, expected_rows

T0_S = T0 // 1000
CCXT_LIMIT = 300  # coinbase.fetch_ohlcv asks for at most 300 candles, below the venue's 350


@pytest.fixture(scope="module")
def ccxt_venue():
    return "coinbase", {}  # ccxt's defaults: without a key markets come from public endpoints only


def candles(http, product="BTC-USDT", **query):
    query = {"start": T0_S, "end": T0_S + 9 * 60, "granularity": "ONE_MINUTE", **query}
    return http.get(f"{http.base}/coinbase/api/v3/brokerage/market/products/{product}/candles", params=query)


def starts(answer):
    return [int(row["start"]) for row in answer.json()["candles"]]


def test_ccxt_loads_markets_from_public_endpoints_only(emu):
    exchange = ccxt_client("coinbase", emu.url)
    markets = exchange.load_markets()
    assert set(markets) == set(DEFAULT_SYMBOLS)
    assert [(entry["path"], entry["query"]) for entry in emu.request_log()] == [
        ("/v2/currencies", {}),
        ("/v2/currencies/crypto", {}),
        ("/v2/exchange-rates", {}),
        ("/api/v3/brokerage/market/products", {}),
        ("/api/v3/brokerage/market/products", {"product_type": "FUTURE"}),
    ]
    btc = markets["BTC/USDT"]
    assert (btc["id"], btc["type"], btc["active"], btc["precision"]["price"]) == ("BTC-USDT", "spot", True, 0.01)
    assert markets["ETH/BTC"]["id"] == "ETH-BTC" and markets["DOGE/USDT"]["precision"]["price"] == 1e-8
    assert {"BTC", "USDT", "USD", "DOGE"} <= set(exchange.currencies)


@pytest.mark.parametrize("symbol", ["BTC/USDT", "ADA/USDT", "ETH/BTC"])
def test_ccxt_gets_exactly_the_synthetic_values(client, symbol):
    assert client.fetch_ohlcv(symbol, "1m", since=T0, limit=1000) == expected_rows(symbol, T0, CCXT_LIMIT)
    # ccxt asks for [since, since + 300 candles], both ends inclusive: 301 come, newest first, ccxt keeps 300
    assert len(client.last_json_response["candles"]) == CCXT_LIMIT + 1


@pytest.mark.parametrize(("timeframe", "timeframe_ms"), [("5m", 5 * MINUTE), ("1h", HOUR), ("1d", DAY)])
def test_other_granularities_come_from_the_same_generator(client, timeframe, timeframe_ms):
    assert client.fetch_ohlcv("SOL/USDT", timeframe, since=T0, limit=50) == expected_rows(
        "SOL/USDT", T0, 50, timeframe_ms)


def test_pages_chain_across_boundaries_without_gaps_or_overlaps(emu, client):
    rows, since = [], T0
    while since < T0 + 1000 * MINUTE:
        page = client.fetch_ohlcv("ETH/USDT", "1m", since=since, limit=CCXT_LIMIT,
                                  params={"until": min(since + (CCXT_LIMIT - 1) * MINUTE, T0 + 999 * MINUTE)})
        rows.extend(page)
        since = page[-1][0] + MINUTE
    assert rows == expected_rows("ETH/USDT", T0, 1000)
    assert len(emu.request_log()) == 4


def test_rows_are_newest_first_strings_with_both_bounds_inclusive(http):
    answer = candles(http)
    assert answer.status_code == 200 and starts(answer) == [T0_S + 60 * i for i in range(9, -1, -1)]
    row = answer.json()["candles"][-1]
    assert list(row) == ["start", "low", "high", "open", "close", "volume"]
    assert all(isinstance(value, str) for value in row.values())
    _, open_, high, low, close, volume = expected_rows("BTC/USDT", T0, 1)[0]
    assert [float(row[k]) for k in ("open", "high", "low", "close", "volume")] == [open_, high, low, close, volume]


def test_unaligned_bounds_select_the_candles_opening_inside(http):
    assert starts(candles(http, start=T0_S + 1, end=T0_S + 179)) == [T0_S + 120, T0_S + 60]


def test_a_range_of_more_than_350_candles_is_refused_not_trimmed(http):
    answer = candles(http, end=T0_S + (MAX_CANDLES + 1) * 60)
    assert answer.status_code == 400 and answer.json()["error"] == "INVALID_ARGUMENT"
    assert "number of candles requested should be less than 350" in answer.json()["message"]
    full = candles(http, end=T0_S + MAX_CANDLES * 60)  # 351 candles open in it: the newest 350 come
    assert starts(full) == [T0_S + 60 * i for i in range(MAX_CANDLES, 0, -1)]


def test_limit_keeps_the_newest_candles_and_zero_means_the_default(http):
    assert starts(candles(http, limit=3)) == [T0_S + 540, T0_S + 480, T0_S + 420]
    assert len(candles(http, limit=0).json()["candles"]) == 10
    assert candles(http, limit=MAX_CANDLES + 1).status_code == 400


def test_no_candles_before_listing_or_after_now(http):
    before_listing = LISTED_SINCE_MS // 1000 - DAY // 1000
    assert candles(http, start=before_listing, end=before_listing + 3600).json() == {"candles": []}
    future = time.time_ns() // 1_000_000_000 + 3600
    assert candles(http, start=future, end=future + 600).json() == {"candles": []}


def test_the_open_candle_is_served_and_only_past_pages_are_cacheable():
    venue = CoinbaseVenue(CandleStore(["BTC/USDT"], {}))
    now_ms = T0 + 30 * MINUTE + 5_000
    query = {"granularity": "ONE_MINUTE", "start": str(T0_S), "end": str(T0_S + 3600)}
    live = venue.respond(Request("GET", "/api/v3/brokerage/market/products/BTC-USDT/candles", query, now_ms=now_ms))
    assert live.status == 200 and b'"start":"%d"' % ((T0 + 30 * MINUTE) // 1000) in live.body and not live.cacheable
    past = venue.respond(Request("GET", "/api/v3/brokerage/market/products/BTC-USDT/candles", query,
                                 now_ms=T0 + 2 * HOUR))
    assert past.cacheable


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"granularity": "ONE_WEEK_MAYBE"}, "granularity argument is invalid"),
        ({"start": None}, "start and end argument is invalid"),
        ({"start": T0_S + 60, "end": T0_S}, "start and end argument is invalid"),
        ({"end": "tomorrow"}, "end argument is invalid"),
        ({"limit": -1}, "limit argument is invalid"),
    ],
)
def test_bad_arguments_get_400_invalid_argument(http, query, message):
    answer = candles(http, **query)
    body = answer.json()
    assert answer.status_code == 400 and body == {"error": "INVALID_ARGUMENT", "error_details": message,
                                                  "message": message}


def test_unknown_product_is_404_not_found_and_ccxt_raises(http, client):
    answer = candles(http, product="NOPE-USD")
    assert answer.status_code == 404 and answer.json()["error"] == "NOT_FOUND"
    assert answer.json()["message"] == "Product NOPE-USD not supported"
    with pytest.raises(ccxt.BadSymbol):  # not listed: ccxt refuses before asking
        client.fetch_ohlcv("NOPE/USD", "1m")
    with pytest.raises(ccxt.ExchangeError, match="NOT_FOUND") as raised:
        client.v3PublicGetBrokerageMarketProductsProductIdCandles(
            {"product_id": "NOPE-USD", "start": T0_S, "end": T0_S + 60, "granularity": "ONE_MINUTE"})
    assert type(raised.value) is ccxt.ExchangeError


def test_a_too_wide_range_through_ccxt_is_bad_request(client):
    with pytest.raises(ccxt.BadRequest, match="INVALID_ARGUMENT"):
        client.fetch_ohlcv("BTC/USDT", "1m", since=T0, params={"until": T0 + 400 * MINUTE})


@pytest.mark.parametrize(
    ("status", "exception", "body_start"),
    [
        (503, ccxt.ExchangeNotAvailable, b"<html>"),  # the edge answers, not the API: ccxt maps the status
        (429, ccxt.RateLimitExceeded, b"<html>"),
        (504, ccxt.RequestTimeout, b"<html>"),
        (500, ccxt.ExchangeError, b'{"error":"INTERNAL"'),
        (403, ccxt.PermissionDenied, b'{"error":"PERMISSION_DENIED"'),
    ],
)
def test_status_faults_hit_candles_as_coinbase_answers_them(emu, http, client, status, exception, body_start):
    emu.add_fault(f"coinbase:status:{status}@2")
    answer = candles(http)
    assert answer.status_code == status and answer.content.startswith(body_start)
    with pytest.raises(exception):
        client.fetch_ohlcv("BTC/USDT", "1m", since=T0, limit=5)


def test_garbage_hits_candles_only_and_ccxt_sees_no_candles_and_no_json(emu):
    emu.add_fault("coinbase:garbage")
    exchange = ccxt_client("coinbase", emu.url)
    exchange.enableLastJsonResponse = True
    exchange.load_markets()  # currency and product lists are not candle requests
    assert exchange.fetch_ohlcv("BTC/USDT", "1m", since=T0, limit=5) == []
    assert exchange.last_json_response is None
    assert [entry["fault"] for entry in emu.request_log()] == [None] * 5 + ["coinbase:garbage"]
