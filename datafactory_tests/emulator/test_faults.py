"""Fault specs, each kind as the real ccxt Binance client sees it, and @COUNT expiry.

What ccxt 4.5 raises or returns per kind (the platform classifies errors from this):
  status:429 / status:418 -> DDoSProtection (not its subclass RateLimitExceeded), Retry-After in last_response_headers
  status:400 -> BadRequest; status:451/500/502/503/504 -> OperationFailed (Binance codes -1000/-1001 in the body)
  timeout:S with S > client timeout -> RequestTimeout; with S < client timeout -> NetworkError (remote disconnected)
  reset -> NetworkError (connection reset by peer)
  garbage -> [] with last_json_response None; empty -> [] with last_json_response []
  duplicates -> rows with repeated open times; shuffle -> rows in order (ccxt sorts), disorder only in the raw JSON
  holes -> fewer rows, the same ones missing on every retry; spike -> one row with close x100 (and high = close)
  barrier -> the normal rows once every listed symbol has asked; a lone one OperationFailed (503) after the wait
"""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import ccxt
import numpy as np
import pytest

from datafactory_assets.emulator.faults import (
    DEFAULT_BARRIER_S,
    DEFAULT_TIMEOUT_S,
    GARBAGE_BODY,
    KINDS,
    SPIKE_FACTOR,
    AlteredStore,
    parse_fault,
)
from datafactory_assets.emulator.server import VENUES, Emulator
from datafactory_assets.emulator.store import CandleStore
from datafactory_tests.emulator.helpers import BINANCE_SPOT, MINUTE, T0, ccxt_client

VENUE_IDS = ("binance",)
ONE_OF_EACH_KIND = ["status:503", "garbage", "empty", "timeout:0.05", "reset", "duplicates", "shuffle", "holes:0.5",
                    "spike", "rate:0.01", "barrier:BTCUSDT,ETHUSDT:0.05"]


def fetch(client, limit=5, since=T0):
    return client.fetch_ohlcv("BTC/USDT", "1m", since=since, limit=limit)


def klines(http, limit=5):
    return http.get(f"{http.base}/binance/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1m",
                                                                    "startTime": T0, "limit": limit})


def network_error(client):
    """Fetch expecting ccxt's plain NetworkError (not a subclass); the repr of its cause and the seconds it took."""
    began = time.monotonic()
    with pytest.raises(ccxt.NetworkError) as info:
        fetch(client)
    assert type(info.value) is ccxt.NetworkError
    return repr(info.value.__cause__), time.monotonic() - began


@pytest.fixture
def impatient(client):
    """The loaded ccxt client with a 300 ms timeout instead of ccxt's 10 s."""
    client.timeout = 300
    yield client
    client.timeout = 10_000


@pytest.mark.parametrize(
    ("spec", "fields"),
    [
        ("binance:garbage", ("binance", "garbage", (), None)),
        ("binance:empty@3", ("binance", "empty", (), 3)),
        ("binance:status:503", ("binance", "status", ("503",), None)),
        (" binance:status:429:7@2 ", ("binance", "status", ("429", "7"), 2)),
        ("binance:timeout", ("binance", "timeout", (), None)),
        ("binance:timeout:0.5@1", ("binance", "timeout", ("0.5",), 1)),
        ("binance:reset@2", ("binance", "reset", (), 2)),
        ("binance:duplicates", ("binance", "duplicates", (), None)),
        ("binance:shuffle@1", ("binance", "shuffle", (), 1)),
        ("binance:holes:0.25", ("binance", "holes", ("0.25",), None)),
        ("binance:spike", ("binance", "spike", (), None)),
        ("binance:barrier:BTCUSDT,ETHUSDT", ("binance", "barrier", ("BTCUSDT,ETHUSDT",), None)),
        ("binance:barrier:BTCUSDT,ETHUSDT,SOLUSDT:2.5@4",
         ("binance", "barrier", ("BTCUSDT,ETHUSDT,SOLUSDT", "2.5"), 4)),
    ],
)
def test_valid_specs_parse(spec, fields):
    fault = parse_fault(spec, venues=VENUE_IDS)
    assert (fault.venue, fault.kind, fault.args, fault.remaining) == fields
    assert fault.spec == spec.strip()


@pytest.mark.parametrize(
    "spec",
    ["binance:melt", "binance", "", "okx:garbage", "binance:garbage:x", "binance:garbage@0", "binance:garbage@x",
     "binance:status", "binance:status:abc", "binance:status:200", "binance:status:429:soon", "binance:timeout:-1",
     "binance:timeout:soon", "binance:timeout:1:2", "binance:timeout:nan", "binance:timeout:inf", "binance:reset:1",
     "binance:holes:1.5", "binance:holes:nan", "binance:holes:0.1:2", "binance:spike:3", "binance:shuffle:x",
     "binance:rate", "binance:rate:2", "binance:rate:x", "binance:rate:0.01:2",
     "binance:barrier", "binance:barrier:BTCUSDT", "binance:barrier:BTCUSDT,BTCUSDT", "binance:barrier:BTCUSDT,:1",
     "binance:barrier:BTCUSDT,ETHUSDT:soon", "binance:barrier:BTCUSDT,ETHUSDT:1:2"],
)
def test_bad_specs_are_refused_naming_the_spec_and_the_kinds(spec):
    with pytest.raises(ValueError) as info:
        parse_fault(spec, venues=VENUE_IDS)
    message = str(info.value)
    assert repr(spec) in message and all(kind in message for kind in KINDS)


def test_add_fault_and_constructor_faults_are_checked_too(emu):
    with pytest.raises(ValueError, match="unknown kind"):
        emu.add_fault("binance:melt")
    with pytest.raises(ValueError, match="unknown venue"):
        Emulator(faults=["nowhere:garbage"])


def test_garbage_is_a_truncated_json_looking_200(emu, http):
    emu.add_fault("binance:garbage@1")
    answer = klines(http)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    assert answer.content == GARBAGE_BODY and answer.content.startswith(b"[")
    with pytest.raises(json.JSONDecodeError):
        answer.json()


def test_ccxt_reads_garbage_as_no_candles_and_last_json_response_is_none(emu, client):
    fetch(client)
    assert client.last_json_response is not None  # a good answer is recorded
    emu.add_fault("binance:garbage@1")
    assert fetch(client) == []
    assert client.last_json_response is None
    assert client.last_http_response == GARBAGE_BODY.decode()


def test_without_enable_last_json_response_ccxt_never_records_it(emu):
    client = ccxt_client("binance", emu.url, **BINANCE_SPOT)
    client.load_markets()
    assert len(fetch(client)) == 5 and client.last_json_response is None


def test_empty_is_an_honest_empty_page(emu, client):
    emu.add_fault("binance:empty")
    assert fetch(client) == [] and client.last_json_response == []


@pytest.mark.parametrize(
    ("spec", "status", "retry_after", "error"),
    [
        ("binance:status:429:7", 429, "7", ccxt.DDoSProtection),
        ("binance:status:429", 429, "1", ccxt.DDoSProtection),
        ("binance:status:418", 418, "1", ccxt.DDoSProtection),
        ("binance:status:503:30", 503, "30", ccxt.OperationFailed),
        ("binance:status:503", 503, "1", ccxt.OperationFailed),
        ("binance:status:451", 451, None, ccxt.OperationFailed),
        ("binance:status:500", 500, None, ccxt.OperationFailed),
        ("binance:status:502", 502, None, ccxt.OperationFailed),
        ("binance:status:504", 504, None, ccxt.OperationFailed),
        ("binance:status:400", 400, None, ccxt.BadRequest),
    ],
)
def test_status_answers_that_code_with_a_binance_error_body(emu, http, client, spec, status, retry_after, error):
    emu.add_fault(spec)
    answer = klines(http)
    assert answer.status_code == status and answer.headers.get("Retry-After") == retry_after
    body = answer.json()
    assert set(body) == {"code", "msg"} and body["code"] < 0 and spec in body["msg"]
    with pytest.raises(error) as info:
        fetch(client)
    assert type(info.value) is error and client.last_response_headers.get("Retry-After") == retry_after


def test_timeout_longer_than_the_client_timeout_is_ccxt_request_timeout(emu, impatient):
    emu.add_fault("binance:timeout:5@1")
    began = time.monotonic()
    with pytest.raises(ccxt.RequestTimeout):
        fetch(impatient)
    assert 0.3 <= time.monotonic() - began < 1.5
    assert len(fetch(impatient)) == 5  # the next request is served at once
    log = [(r["status"], r["fault"]) for r in emu.request_log()]
    assert log == [(None, "binance:timeout:5@1"), (200, None)]


def test_timeout_shorter_than_the_client_timeout_is_ccxt_network_error_remote_disconnected(emu, impatient):
    emu.add_fault("binance:timeout:0.1@1")
    cause, seconds = network_error(impatient)
    assert "Remote end closed connection" in cause
    assert 0.1 <= seconds < 0.3


def test_timeout_holds_past_ccxt_default_ten_seconds_by_default_and_ends_when_the_emulator_stops():
    assert DEFAULT_TIMEOUT_S > 10
    with Emulator(faults=["binance:timeout"]) as emu:
        client = ccxt_client("binance", emu.url, **BINANCE_SPOT)
        client.timeout = 5000
        client.load_markets()
        began = time.monotonic()
        stopper = threading.Timer(0.2, emu.stop)
        stopper.start()
        with pytest.raises(ccxt.NetworkError):
            fetch(client)
        stopper.join()
        assert time.monotonic() - began < 2


def fetch_symbol(emu, symbol: str) -> list:
    """A fetch of five candles of `symbol` through a ccxt client of its own (one per thread)."""
    client = ccxt_client("binance", emu.url, **BINANCE_SPOT)
    client.load_markets()
    return client.fetch_ohlcv(symbol, "1m", since=T0, limit=5)


def test_a_barrier_answers_symbols_fetched_at_the_same_time_once_all_have_asked(emu, client):
    normal = {symbol: fetch_symbol(emu, symbol) for symbol in ("BTC/USDT", "ETH/USDT")}
    emu.clear_request_log()
    emu.add_fault("binance:barrier:BTCUSDT,ETHUSDT")
    assert DEFAULT_BARRIER_S < client.timeout / 1000  # a lone request is answered before ccxt gives up on it
    with ThreadPoolExecutor(max_workers=1) as pool:
        held = pool.submit(fetch_symbol, emu, "BTC/USDT")
        assert fetch_symbol(emu, "ETH/USDT") == normal["ETH/USDT"]
        assert held.result() == normal["BTC/USDT"]
    assert [r["status"] for r in emu.request_log() if r["path"] == "/api/v3/klines"] == [200, 200]


def test_a_barrier_fails_symbols_fetched_one_after_another_with_the_venues_503(emu, client):
    emu.add_fault("binance:barrier:BTCUSDT,ETHUSDT:0.2")
    began = time.monotonic()
    with pytest.raises(ccxt.OperationFailed, match="BTCUSDT waited 0.2 s for a request for ETHUSDT"):
        fetch(client)
    assert time.monotonic() - began >= 0.2
    assert client.last_response_headers.get("Retry-After") == "1"
    assert len(fetch_symbol(emu, "ETH/USDT")) == 5 and len(fetch(client)) == 5  # all have asked: open from now on
    assert len(fetch_symbol(emu, "SOL/USDT")) == 5  # a symbol the barrier does not name is never held


def test_reset_is_ccxt_network_error_connection_reset_at_once(emu, client):
    emu.add_fault("binance:reset@1")
    cause, seconds = network_error(client)
    assert "ConnectionResetError" in cause
    assert seconds < 0.5
    assert len(fetch(client)) == 5
    assert [(r["status"], r["fault"]) for r in emu.request_log()] == [(None, "binance:reset@1"), (200, None)]


def test_duplicates_reach_ccxt_as_repeated_open_times_cut_to_the_limit(emu, client):
    normal = fetch(client, limit=20)
    emu.add_fault("binance:duplicates@1")
    rows = fetch(client, limit=20)
    raw = [row[0] for row in client.last_json_response]
    assert len(raw) == 22 and raw[:2] == [T0, T0] and raw[11] == raw[12] == T0 + 10 * MINUTE
    assert sorted(set(raw)) == [row[0] for row in normal]  # nothing but the normal candles
    doubled = [copy for i, row in enumerate(normal) for copy in [row] * (2 if i % 10 == 0 else 1)]
    assert rows == doubled[:20]  # ccxt keeps only `limit` rows: the last two are cut


def test_shuffle_is_invisible_through_ccxt_which_sorts_the_rows(emu, client):
    normal = fetch(client, limit=20)
    emu.add_fault("binance:shuffle@1")
    assert fetch(client, limit=20) == normal
    raw = [row[0] for row in client.last_json_response]
    assert raw != sorted(raw) and sorted(raw) == [row[0] for row in normal]


def test_shuffle_of_one_candle_is_that_candle(emu, client):
    normal = fetch(client, limit=1)
    emu.add_fault("binance:shuffle@1")
    assert fetch(client, limit=1) == normal


@pytest.mark.parametrize(("spec", "fraction"), [("binance:holes", 0.1), ("binance:holes:0.5", 0.5)])
def test_holes_reach_ccxt_as_missing_rows_the_same_ones_on_every_retry(emu, client, spec, fraction):
    normal = fetch(client, limit=1000)
    emu.add_fault(spec)
    rows = fetch(client, limit=1000)
    assert abs(len(rows) / 1000 - (1 - fraction)) < 0.05
    assert all(row in normal for row in rows) and rows == sorted(rows)
    assert fetch(client, limit=1000) == rows  # deterministic
    later = fetch(client, limit=100, since=T0 + 50 * MINUTE)  # an overlapping page misses the same candles
    assert later == [row for row in rows if T0 + 50 * MINUTE <= row[0] < T0 + 150 * MINUTE]


def test_spike_is_one_row_closing_at_a_hundred_times_with_its_high_raised(emu, client):
    normal = fetch(client, limit=20)
    emu.add_fault("binance:spike@1")
    rows = fetch(client, limit=20)
    changed = [i for i, (a, b) in enumerate(zip(rows, normal)) if a != b]
    assert changed == [10]
    t, o, h, low, c, v = rows[10]
    assert [t, o, low, v] == [normal[10][i] for i in (0, 1, 3, 5)]
    assert c == pytest.approx(normal[10][4] * SPIKE_FACTOR) and h == c  # OHLC invariants still hold
    assert low <= min(o, c) and h >= max(o, c)


@pytest.mark.parametrize("kind", ONE_OF_EACH_KIND)
def test_count_expires_every_kind_after_count_data_requests(emu, client, kind):
    normal = fetch(client, limit=20)
    emu.clear_request_log()
    spec = f"binance:{kind}@2"
    emu.add_fault(spec)
    for _ in range(2):
        try:
            fetch(client, limit=20)
        except ccxt.BaseError:
            pass
    assert fetch(client, limit=20) == normal
    assert [r["fault"] for r in emu.request_log()] == [spec, spec, None]
    assert emu.request_log()[-1]["status"] == 200


def test_every_kind_has_a_count_test():
    assert {kind.split(":")[0] for kind in ONE_OF_EACH_KIND} == set(KINDS)


def test_count_only_counts_data_requests(emu, http, client):
    emu.add_fault("binance:empty@2")
    assert http.get(f"{http.base}/binance/api/v3/ping").ok
    assert client.load_markets(reload=True)
    assert fetch(client) == [] and fetch(client) == []
    assert len(fetch(client)) == 5
    assert [r["fault"] for r in emu.request_log() if r["path"] == "/api/v3/klines"] == [
        "binance:empty@2", "binance:empty@2", None]


def test_without_count_a_fault_stays_until_cleared(emu, client):
    emu.add_fault("binance:spike")
    normal_close = fetch(client, limit=3)[1][4]
    assert all(fetch(client, limit=3)[1][4] == normal_close for _ in range(2))
    emu.clear_faults()
    assert fetch(client, limit=3)[1][4] * SPIKE_FACTOR == pytest.approx(normal_close)


def test_the_oldest_active_fault_applies_first(emu, client):
    emu.add_fault("binance:status:503@1")
    emu.add_fault("binance:empty@1")
    with pytest.raises(ccxt.OperationFailed):
        fetch(client)
    assert fetch(client) == []
    assert len(fetch(client)) == 5


@pytest.mark.parametrize("kind", ["garbage", "spike", "holes"])
def test_a_fault_hits_even_a_cached_page_and_never_enters_the_cache(emu, client, kind):
    good = fetch(client, limit=1000)
    emu.add_fault(f"binance:{kind}@1")
    assert fetch(client, limit=1000) != good
    assert fetch(client, limit=1000) == good


def test_faults_given_at_start_are_active():
    with Emulator(faults=["binance:empty@1"]) as emu:
        client = ccxt_client("binance", emu.url, **BINANCE_SPOT)
        client.load_markets()
        assert fetch(client) == [] and len(fetch(client)) == 5


@pytest.mark.parametrize("venue_id", sorted(VENUES))
def test_every_registered_venue_renders_altered_pages_from_a_store_it_is_given(venue_id):
    """The candle-altering kinds rely on `Venue.with_store`: a copy reading the given store, the original untouched."""
    store = CandleStore(["BTC/USDT"], {})
    venue = VENUES[venue_id](store)
    altered = AlteredStore(store, lambda _, frame, __: frame.head(1))
    copy = venue.with_store(altered)
    assert copy.store is altered and venue.store is store and type(copy) is type(venue)
    page = copy.store.page("BTC/USDT", timeframe_ms=MINUTE, start_ms=T0, end_ms=None, limit=5, now_ms=T0 * 2)
    assert page.frame.height == 1 and not page.final and copy.store.symbols == store.symbols
    assert np.array_equal(page.frame["open_ms"].to_numpy(), [T0])
