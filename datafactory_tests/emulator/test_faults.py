"""Fault specs, each kind as the real ccxt client sees it, and @COUNT expiry."""

import json

import ccxt
import pytest

from datafactory_assets.emulator.faults import GARBAGE_BODY, KINDS, parse_fault
from datafactory_assets.emulator.server import Emulator
from datafactory_tests.emulator.conftest import binance_client

T0 = 1_709_287_200_000  # 2024-03-01T10:00Z
VENUES = ("binance",)


def fetch(client, limit=5):
    return client.fetch_ohlcv("BTC/USDT", "1m", since=T0, limit=limit)


def klines(http):
    return http.get(f"{http.base}/binance/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1m",
                                                                    "startTime": T0, "limit": 5})


@pytest.mark.parametrize(
    ("spec", "fields"),
    [
        ("binance:garbage", ("binance", "garbage", (), None)),
        ("binance:empty@3", ("binance", "empty", (), 3)),
        ("binance:status:503", ("binance", "status", ("503",), None)),
        (" binance:status:429:7@2 ", ("binance", "status", ("429", "7"), 2)),
    ],
)
def test_valid_specs_parse(spec, fields):
    fault = parse_fault(spec, venues=VENUES)
    assert (fault.venue, fault.kind, fault.args, fault.remaining) == fields
    assert fault.spec == spec.strip()


@pytest.mark.parametrize(
    "spec",
    ["binance:melt", "binance", "", "okx:garbage", "binance:garbage:x", "binance:garbage@0", "binance:garbage@x",
     "binance:status", "binance:status:abc", "binance:status:200", "binance:status:429:soon"],
)
def test_bad_specs_are_refused_naming_the_spec_and_the_kinds(spec):
    with pytest.raises(ValueError) as info:
        parse_fault(spec, venues=VENUES)
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
    client = binance_client(emu.url)
    client.load_markets()
    assert len(fetch(client)) == 5 and client.last_json_response is None


def test_empty_is_an_honest_empty_page(emu, client):
    emu.add_fault("binance:empty")
    assert fetch(client) == [] and client.last_json_response == []


@pytest.mark.parametrize(
    ("spec", "status", "retry_after", "error"),
    [
        ("binance:status:429:7", 429, "7", ccxt.DDoSProtection),
        ("binance:status:418", 418, "1", ccxt.DDoSProtection),
        ("binance:status:503", 503, None, ccxt.OperationFailed),
        ("binance:status:500", 500, None, ccxt.OperationFailed),
        ("binance:status:400", 400, None, ccxt.BadRequest),
    ],
)
def test_status_answers_that_code_with_a_binance_error_body(emu, http, client, spec, status, retry_after, error):
    emu.add_fault(spec)
    answer = klines(http)
    assert answer.status_code == status and answer.headers.get("Retry-After") == retry_after
    body = answer.json()
    assert set(body) == {"code", "msg"} and body["code"] < 0 and spec in body["msg"]
    with pytest.raises(error):
        fetch(client)


def test_count_expires_the_fault_and_only_data_requests_count(emu, http, client):
    emu.add_fault("binance:empty@2")
    assert http.get(f"{http.base}/binance/api/v3/ping").ok
    assert client.load_markets(reload=True)
    assert fetch(client) == [] and fetch(client) == []
    assert len(fetch(client)) == 5
    assert [r["fault"] for r in emu.request_log() if r["path"] == "/api/v3/klines"] == [
        "binance:empty@2", "binance:empty@2", None]


def test_without_count_a_fault_stays_until_cleared(emu, client):
    emu.add_fault("binance:empty")
    assert [fetch(client) for _ in range(3)] == [[], [], []]
    emu.clear_faults()
    assert len(fetch(client)) == 5


def test_the_oldest_active_fault_applies_first(emu, client):
    emu.add_fault("binance:status:503@1")
    emu.add_fault("binance:empty@1")
    with pytest.raises(ccxt.OperationFailed):
        fetch(client)
    assert fetch(client) == []
    assert len(fetch(client)) == 5


def test_a_fault_hits_even_a_cached_page(emu, client):
    good = fetch(client, limit=1000)
    emu.add_fault("binance:garbage@1")
    assert fetch(client, limit=1000) == []
    assert fetch(client, limit=1000) == good


def test_faults_given_at_start_are_active():
    with Emulator(faults=["binance:empty@1"]) as emu:
        client = binance_client(emu.url)
        client.load_markets()
        assert fetch(client) == [] and len(fetch(client)) == 5
