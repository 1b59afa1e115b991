"""The Binance dialect through the real ccxt client and raw HTTP, the control endpoints, and the server's life cycle."""

import http.client
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import ccxt
import pytest
import requests

from datafactory_assets.emulator.binance import BinanceVenue
from datafactory_assets.emulator.candles import DEFAULT_SYMBOLS, LISTED_SINCE_MS
from datafactory_assets.emulator.server import Emulator, parse_replay_arg
from datafactory_tests.emulator.helpers import BINANCE_SPOT, DAY, HOUR, MINUTE, T0, ccxt_client, expected_rows


def klines(http, **query):
    return http.get(f"{http.base}/binance/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1m", **query})


def now_ms():
    return time.time_ns() // 1_000_000


def test_ccxt_loads_every_listed_symbol_as_an_active_spot_market(client):
    assert set(DEFAULT_SYMBOLS) < set(client.markets)  # inside a realistic market (emulator/test_listing.py)
    for symbol in DEFAULT_SYMBOLS:
        market = client.markets[symbol]
        assert (market["active"], market["spot"], market["type"], market["symbol"]) == (True, True, "spot", symbol)
        assert market["precision"]["price"] in (0.01, 1e-8) and market["limits"]["cost"]["min"] == 5.0
    assert client.markets["BTC/USDT"]["id"] == "BTCUSDT" and client.markets["ETH/BTC"]["precision"]["price"] == 1e-8


def test_the_listed_symbols_can_be_chosen_and_must_be_canonical():
    with Emulator(symbols=["BTC/USDT", "FOO/BAR"]) as emu:
        assert set(ccxt_client("binance", emu.url, **BINANCE_SPOT).load_markets()) == {"BTC/USDT", "FOO/BAR"}
    with pytest.raises(ValueError, match="BTCUSDT"):
        Emulator(symbols=["BTCUSDT"])


@pytest.mark.parametrize("symbol", ["BTC/USDT", "ADA/USDT", "ETH/BTC"])
def test_ccxt_gets_exactly_the_synthetic_values(client, symbol):
    rows = client.fetch_ohlcv(symbol, "1m", since=T0, limit=1000)
    assert rows == expected_rows(symbol, T0, 1000)
    assert client.last_json_response[0][6] == T0 + MINUTE - 1  # close time, as Binance sends it


@pytest.mark.parametrize(("timeframe", "timeframe_ms"), [("5m", 5 * MINUTE), ("1h", HOUR), ("1d", DAY)])
def test_other_intervals_are_served_from_the_same_generator(client, timeframe, timeframe_ms):
    assert client.fetch_ohlcv("SOL/USDT", timeframe, since=T0, limit=50) == expected_rows(
        "SOL/USDT", T0, 50, timeframe_ms)


def test_a_window_gets_the_first_limit_candles_with_both_bounds_inclusive(client):
    rows = client.fetch_ohlcv("BTC/USDT", "1m", since=T0, limit=1000, params={"until": T0 + 59 * MINUTE})
    assert rows == expected_rows("BTC/USDT", T0, 60)
    assert client.fetch_ohlcv("BTC/USDT", "1m", since=T0 + 1, limit=2) == expected_rows("BTC/USDT", T0 + MINUTE, 2)


def test_without_start_the_newest_candles_up_to_the_end_come(client):
    rows = client.fetch_ohlcv("BTC/USDT", "1m", limit=10, params={"until": T0})
    assert rows == expected_rows("BTC/USDT", T0 - 9 * MINUTE, 10)


def test_without_start_or_end_the_newest_candles_end_with_the_one_still_open(client):
    before = now_ms()
    rows = client.fetch_ohlcv("BTC/USDT", "1m", limit=5)
    after = now_ms()
    assert len(rows) == 5 and before // MINUTE * MINUTE <= rows[-1][0] <= after // MINUTE * MINUTE
    assert rows[:-1] == expected_rows("BTC/USDT", rows[0][0], 4)
    assert client.fetch_ohlcv("BTC/USDT", "1m", since=after + 10 * MINUTE, limit=5) == []


def test_nothing_is_served_before_listing(client):
    assert client.fetch_ohlcv("BTC/USDT", "1d", since=0, limit=3) == expected_rows("BTC/USDT", LISTED_SINCE_MS, 3, DAY)
    assert client.fetch_ohlcv("BTC/USDT", "1m", limit=3, params={"until": LISTED_SINCE_MS - 1}) == []


def test_limit_defaults_to_500_and_is_capped_at_1000(http):
    assert len(klines(http, startTime=T0).json()) == 500
    assert len(klines(http, startTime=T0, limit=1000).json()) == 1000
    answer = klines(http, startTime=T0, limit=1001)
    assert answer.status_code == 400 and answer.json()["code"] == -1130


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"symbol": "NOPEUSDT"}, -1121),
        ({"symbol": ""}, -1102),
        ({"interval": "7m"}, -1120),
        ({"startTime": "yesterday"}, -1100),
        ({"endTime": "99999999999999999999"}, -1100),
        ({"limit": "0"}, -1130),
    ],
)
def test_bad_parameters_get_binance_errors(http, query, code):
    answer = klines(http, **query)
    assert answer.status_code == 400 and answer.json()["code"] == code
    assert answer.headers["Content-Type"] == "application/json"


def test_unknown_symbol_reads_invalid_symbol_and_ccxt_raises_bad_symbol(http):
    assert klines(http, symbol="NOPEUSDT").json() == {"code": -1121, "msg": "Invalid symbol."}
    with pytest.raises(ccxt.BadSymbol):
        ccxt_client("binance", http.base, **BINANCE_SPOT).publicGetKlines({"symbol": "NOPEUSDT", "interval": "1m"})


def test_rows_are_binance_twelve_field_arrays_of_decimal_strings(http):
    row = klines(http, startTime=T0, limit=1).json()[0]
    candle = expected_rows("BTC/USDT", T0, 1)[0]
    assert len(row) == 12 and row[0] == T0 and row[6] == T0 + MINUTE - 1 and row[11] == "0"
    assert [float(v) for v in row[1:6]] == candle[1:] and row[1] == f"{candle[1]:.8f}"
    assert all(isinstance(row[i], str) for i in (1, 2, 3, 4, 5, 7, 9, 10)) and isinstance(row[8], int)


def test_ping_time_and_the_used_weight_header(http):
    assert http.get(f"{http.base}/binance/api/v3/ping").json() == {}
    before = now_ms()
    server_time = http.get(f"{http.base}/binance/api/v3/time").json()["serverTime"]
    assert before <= server_time <= now_ms()
    first = int(klines(http, startTime=T0, limit=1).headers["X-MBX-USED-WEIGHT-1M"])
    second = klines(http, startTime=T0, limit=1)
    assert int(second.headers["X-MBX-USED-WEIGHT-1M"]) in (first + 2, 2)  # 2 per klines call, reset each minute
    assert second.headers["Content-Type"] == "application/json"


def test_unknown_venue_and_path_get_json_404(http):
    for path in ("/nowhere/api/v5/market/candles", "/binance/api/v3/nope", "/", "/_emulator/nope"):
        answer = http.get(http.base + path)
        assert answer.status_code == 404 and answer.headers["Content-Type"] == "application/json", path
        assert answer.json()


def test_an_emulator_bug_reads_as_a_json_500_not_a_dropped_connection(monkeypatch):
    def broken(self, request):
        raise RuntimeError("boom")

    monkeypatch.setattr(BinanceVenue, "respond", broken)
    with Emulator() as emu:
        answer = requests.get(f"{emu.url}/binance/api/v3/ping", timeout=5)
    assert answer.status_code == 500 and "RuntimeError: boom" in answer.json()["error"]


def test_identical_requests_for_past_pages_get_identical_bodies(http):
    first, second = klines(http, startTime=T0, limit=1000), klines(http, startTime=T0, limit=1000)
    assert first.content == second.content and len(first.content) > 100_000


def test_the_connection_is_kept_alive_across_requests(emu):
    connection = http.client.HTTPConnection(*urlsplit(emu.url).netloc.split(":"))
    for _ in range(3):
        connection.request("GET", f"/binance/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime={T0}&limit=3")
        answer = connection.getresponse()
        assert answer.status == 200 and len(json.loads(answer.read())) == 3
        assert answer.getheader("Connection") != "close"
    connection.close()


def test_the_request_log_records_venue_requests_but_not_control_ones(emu, http):
    klines(http, startTime=T0, limit=2)
    http.get(f"{http.base}/binance/api/v3/ping")
    http.get(f"{http.base}/_emulator/health")
    log = emu.request_log()
    assert [(r["venue"], r["path"], r["status"]) for r in log] == [
        ("binance", "/api/v3/klines", 200), ("binance", "/api/v3/ping", 200)]
    assert log[0]["query"] == {"symbol": "BTCUSDT", "interval": "1m", "startTime": str(T0), "limit": "2"}
    assert log[0]["fault"] is None and abs(log[0]["time"] - time.time()) < 60
    assert http.get(f"{http.base}/_emulator/requests").json() == json.loads(json.dumps(log))
    assert http.delete(f"{http.base}/_emulator/requests").json() == {"ok": True}
    assert emu.request_log() == []
    emu.clear_request_log()


def test_control_endpoints(emu, http):
    assert http.get(f"{http.base}/_emulator/health").json() == {"ok": True}
    added = http.post(f"{http.base}/_emulator/faults", json={"spec": "binance:empty@2"})
    assert added.status_code == 200 and added.json()["faults"] == [{"spec": "binance:empty@2", "remaining": 2}]
    assert http.get(f"{http.base}/_emulator/faults").json() == {"faults": [{"spec": "binance:empty@2", "remaining": 2}]}
    assert klines(http, startTime=T0).json() == []
    assert http.delete(f"{http.base}/_emulator/faults").json() == {"ok": True}
    assert len(klines(http, startTime=T0).json()) == 500
    refused = http.post(f"{http.base}/_emulator/faults", json={"spec": "binance:melt"})
    assert refused.status_code == 400
    assert "binance:melt" in refused.json()["error"] and "garbage" in refused.json()["error"]
    assert http.post(f"{http.base}/_emulator/faults", data="not json").status_code == 400
    assert http.post(f"{http.base}/_emulator/faults", json=["binance:empty"]).status_code == 400


def test_stop_closes_kept_alive_connections_and_start_binds_a_free_port():
    with Emulator() as emu:
        assert emu.url.startswith("http://127.0.0.1:") and not emu.url.endswith(":0")
        session = requests.Session()
        assert session.get(f"{emu.url}/_emulator/health").ok
    with pytest.raises(requests.ConnectionError):
        session.get(f"{emu.url}/_emulator/health", timeout=5)


def test_parse_replay_arg():
    assert parse_replay_arg("ALT/BTC=/data/alt.json") == ("ALT/BTC", Path("/data/alt.json"))
    for bad in ("ALT/BTC", "altbtc=x.json", "ALT/BTC=", "=x.json", "ALTBTC=x.json"):
        with pytest.raises(ValueError, match="SYMBOL=FILE"):
            parse_replay_arg(bad)


def test_serve_prints_its_url_serves_and_stops_on_sigterm():
    code = "from datafactory_assets.emulator.server import serve; serve('127.0.0.1', 0, None, ['binance:empty@1'])"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("emulator listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        assert requests.get(f"{url}/_emulator/faults", timeout=5).json()["faults"][0]["spec"] == "binance:empty@1"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()


def test_a_control_change_sent_from_another_page_is_refused_and_changes_nothing(emu):
    """A page open in the user's browser could otherwise POST faults to 127.0.0.1 (a form post needs no preflight)."""
    host = urlsplit(emu.url).netloc
    refused = requests.post(f"{emu.url}/_emulator/faults", data=json.dumps({"spec": "binance:status:503"}),
                            headers={"Origin": "http://evil.example", "Content-Type": "text/plain"}, timeout=10)
    assert refused.status_code == 403 and "cross-origin POST" in refused.json()["error"]
    assert requests.delete(f"{emu.url}/_emulator/requests", headers={"Origin": "null"}, timeout=10).status_code == 403
    reading = requests.get(f"{emu.url}/_emulator/faults", headers={"Origin": "http://evil.example"}, timeout=10)
    assert reading.json()["faults"] == []  # reading is allowed; the refused POST added nothing
    same = requests.post(f"{emu.url}/_emulator/faults", json={"spec": "binance:status:503@1"},
                         headers={"Origin": f"http://{host}"}, timeout=10)
    tool = requests.delete(f"{emu.url}/_emulator/faults", timeout=10)  # no Origin: curl, ccxt, our tests
    assert same.status_code == 200 and tool.status_code == 200
