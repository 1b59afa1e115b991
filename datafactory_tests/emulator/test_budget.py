"""Rate budgets: 429 with Retry-After over budget, a 418 ban (escalating) for sending during the wait, recovery,
the request log, thread safety, and what the real ccxt Binance client sees.

ccxt 4.5 raises DDoSProtection (not its subclass RateLimitExceeded) for both 429 and 418; the status is in the
message ("binance 429 Too Many Requests {...}") and Retry-After in `last_response_headers`.
"""

import math
import signal
import subprocess
import sys
import threading
from collections import Counter

import ccxt
import pytest
import requests

from datafactory_assets.emulator.budget import MAX_BAN_S, RateBudgets
from datafactory_assets.emulator.server import VENUES, Emulator
from datafactory_assets.emulator.venue import RateBudget
from datafactory_tests.emulator.helpers import BINANCE_SPOT, T0, ccxt_client

KLINES = {"symbol": "BTCUSDT", "interval": "1m", "startTime": T0, "limit": 5}  # weight 2
BINANCE = VENUES["binance"].rate_budget


class Clock:
    """A budget clock that moves only when told."""

    def __init__(self):
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def _budgeted():
    clock = Clock()
    with Emulator(budget_clock=clock) as emu:
        client = ccxt_client("binance", emu.url, **BINANCE_SPOT)
        client.load_markets()
        yield emu, clock, client


@pytest.fixture
def budgeted(_budgeted):
    """An emulator whose budgets run on a fake clock (none enforced yet), its clock, and a loaded ccxt client."""
    emu, _, _ = _budgeted
    emu.clear_budgets()
    emu.clear_faults()
    emu.clear_request_log()
    yield _budgeted
    emu.clear_budgets()


@pytest.fixture
def get(_budgeted):
    """`get(path, **query)` on the budgeted emulator's Binance, a fresh connection each time."""
    emu = _budgeted[0]

    def get(path="/api/v3/klines", **query):
        return requests.get(f"{emu.url}/binance{path}", params=query or (KLINES if path == "/api/v3/klines" else {}),
                            timeout=5)

    return get


def statuses(emu):
    return [r["status"] for r in emu.request_log()]


def test_binance_declares_its_real_budget_and_the_weights_it_reports():
    assert (BINANCE.amount, BINANCE.window_s, BINANCE.ban_s) == (6000, 60, 120)
    assert BINANCE.weights == {"/api/v3/klines": 2, "/api/v3/exchangeInfo": 20, "/api/v3/ticker/24hr": 80}


def test_budgets_are_off_unless_configured(emu, http):
    assert emu.budgets() == {}
    answers = [http.get(f"{http.base}/binance/api/v3/exchangeInfo").status_code for _ in range(61)]  # 1220 weight
    assert answers == [200] * 61


def test_ccxt_over_budget_gets_429_then_418_both_as_ddos_protection(budgeted):
    emu, _, client = budgeted
    emu.set_budget("binance", 10)
    for _ in range(5):
        assert len(client.fetch_ohlcv("BTC/USDT", "1m", since=T0, limit=5)) == 5
    with pytest.raises(ccxt.DDoSProtection) as info:
        client.fetch_ohlcv("BTC/USDT", "1m", since=T0, limit=5)
    assert type(info.value) is ccxt.DDoSProtection and "binance 429 " in str(info.value)
    assert '"code":-1003' in str(info.value) and client.last_response_headers["Retry-After"] == "60"
    with pytest.raises(ccxt.DDoSProtection) as info:
        client.fetch_ohlcv("BTC/USDT", "1m", since=T0, limit=5)
    assert "binance 418 " in str(info.value) and "IP banned until" in str(info.value)
    assert client.last_response_headers["Retry-After"] == "120"
    assert statuses(emu) == [200] * 5 + [429, 418]


def test_refusals_are_binance_shaped(budgeted, get):
    emu, _, _ = budgeted
    emu.set_budget("binance", 20)
    assert get("/api/v3/exchangeInfo").status_code == 200
    over = get()
    assert (over.status_code, over.headers["Retry-After"]) == (429, "60")
    assert over.headers["Content-Type"] == "application/json"
    assert over.json() == {"code": -1003, "msg": "Too much request weight used; current limit is 20 request weight per "
                                                 "60 seconds."}
    banned = get("/api/v3/ping")
    assert (banned.status_code, banned.headers["Retry-After"], banned.json()["code"]) == (418, "120", -1003)
    assert banned.json()["msg"].startswith("Way too much request weight used; IP banned until ")


@pytest.mark.parametrize(
    ("spent", "then", "retry_after"),
    [
        ([(0, "/api/v3/exchangeInfo"), *[(10, "/api/v3/klines")] * 5], (15, "/api/v3/klines"), 45),
        ([*[(0, "/api/v3/klines")] * 5, (10, "/api/v3/exchangeInfo")], (20, "/api/v3/exchangeInfo"), 50),
        ([(0, "/api/v3/ping")] * 30, (59.5, "/api/v3/ping"), 1),
    ],
    ids=["the-oldest-frees-enough", "two-must-leave-the-window", "at-least-one-second"],
)
def test_retry_after_is_the_seconds_until_the_rolling_window_frees_enough(budgeted, get, spent, then, retry_after):
    emu, clock, _ = budgeted
    emu.set_budget("binance", 30)
    start = clock.now
    for at, path in spent:
        clock.now = start + at
        assert get(path).status_code == 200
    clock.now = start + then[0]
    answer = get(then[1])
    assert (answer.status_code, answer.headers["Retry-After"]) == (429, str(retry_after))
    clock.advance(retry_after)  # a client that waits exactly as told is served
    assert get(then[1]).status_code == 200


def test_a_request_heavier_than_the_whole_budget_is_told_to_wait_a_window(budgeted, get):
    emu, _, _ = budgeted
    emu.set_budget("binance", 10)
    answer = get("/api/v3/exchangeInfo")
    assert (answer.status_code, answer.headers["Retry-After"]) == (429, "60")


def test_sending_during_the_wait_is_banned_until_the_ban_ends_and_bans_double(budgeted, get):
    emu, clock, _ = budgeted
    emu.set_budget("binance", 4)
    for ban in (120, 240, 480):
        assert [get().status_code for _ in range(3)] == [200, 200, 429]
        clock.advance(1)
        answer = get()
        assert (answer.status_code, answer.headers["Retry-After"]) == (418, str(ban))
        clock.advance(ban - 1)
        answer = get("/api/v3/ping")
        assert (answer.status_code, answer.headers["Retry-After"]) == (418, "1")  # 418s don't extend the ban
        clock.advance(1)
    assert emu.budgets()["binance"]["bans"] == 3


def test_bans_stop_doubling_at_three_days():
    clock = Clock()
    budgets = RateBudgets({"binance": BINANCE}, clock=clock)
    budgets.set("binance", 1)
    bans = []
    for _ in range(14):
        assert budgets.admit("binance", "/api/v3/ping") is None
        assert budgets.admit("binance", "/api/v3/ping").status == 429
        refusal = budgets.admit("binance", "/api/v3/ping")
        bans.append(refusal.retry_after_s)
        clock.advance(refusal.retry_after_s)
    assert bans[:3] == [120, 240, 480] and bans[-1] == MAX_BAN_S == 3 * 86_400 and max(bans) == MAX_BAN_S


def test_refused_requests_spend_nothing_and_a_new_budget_starts_afresh(budgeted, get):
    emu, clock, _ = budgeted
    emu.set_budget("binance", 4)
    assert [get().status_code for _ in range(5)] == [200, 200, 429, 418, 418]
    assert emu.budgets()["binance"]["used"] == 4 and emu.budgets()["binance"]["banned_for_s"] == 120
    clock.advance(120)
    assert emu.budgets()["binance"]["used"] == 0
    emu.set_budget("binance", 2)
    assert [get().status_code for _ in range(2)] == [200, 429]
    assert emu.budgets()["binance"]["bans"] == 0


def test_a_client_that_waits_as_told_is_never_banned(budgeted, get):
    emu, clock, _ = budgeted
    emu.set_budget("binance", 100)
    served = 0
    while served < 200:
        answer = get()
        if answer.status_code == 429:
            clock.advance(int(answer.headers["Retry-After"]))
        else:
            served += answer.status_code == 200
        clock.advance(0.25)
    counts = Counter(statuses(emu))
    assert counts[200] == 200 and counts[418] == 0 and 0 < counts[429] <= 4


def test_the_budget_is_checked_before_faults_so_refusals_spend_no_fault_count(budgeted, get):
    emu, _, _ = budgeted
    emu.set_budget("binance", 2)
    emu.add_fault("binance:empty@1")
    assert get().json() == []
    emu.add_fault("binance:empty@1")
    assert get().status_code == 429
    assert requests.get(f"{emu.url}/_emulator/faults", timeout=5).json()["faults"] == [
        {"spec": "binance:empty@1", "remaining": 1}]
    assert [(r["status"], r["fault"]) for r in emu.request_log()] == [(200, "binance:empty@1"), (429, None)]


def test_concurrent_clients_get_exactly_the_budget_and_the_log_counts_every_answer(budgeted):
    emu, _, _ = budgeted
    emu.set_budget("binance", 100)  # 50 klines; the clock stands still, so the wait never ends
    results: list[int] = []
    lock = threading.Lock()

    def client():
        with requests.Session() as session:
            for _ in range(20):
                status = session.get(f"{emu.url}/binance/api/v3/klines", params=KLINES, timeout=10).status_code
                with lock:
                    results.append(status)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(results) == {200: 50, 429: 1, 418: 109}
    assert Counter(statuses(emu)) == Counter(results)
    served = requests.get(f"{emu.url}/_emulator/requests", timeout=5).json()
    assert Counter(r["status"] for r in served) == Counter(results)
    assert emu.budgets()["binance"]["used"] == 100


@pytest.mark.parametrize("venue_id", sorted(VENUES))
def test_every_venue_refuses_in_its_own_shape_and_bans_only_if_it_declares_bans(budgeted, venue_id):
    emu, _, _ = budgeted
    budget = VENUES[venue_id].rate_budget
    emu.set_budget(venue_id, 1)
    url = f"{emu.url}/{venue_id}/no/such/path"  # weight 1 on every venue
    assert requests.get(url, timeout=5).status_code != 429
    over = requests.get(url, timeout=5)
    if budget.bans_at_once:  # Bybit: no warning, the ban is its 403
        assert over.status_code == 403 and int(over.headers["Retry-After"]) == budget.ban_s
        assert requests.get(url, timeout=5).status_code == 403
        return
    assert over.status_code == 429 and over.headers["Retry-After"] == str(max(1, math.ceil(budget.window_s)))
    again = requests.get(url, timeout=5)
    assert again.status_code == (418 if budget.ban_s else 429) and int(again.headers["Retry-After"]) >= 1


def test_control_endpoints_set_show_and_clear_budgets(budgeted):
    emu, _, _ = budgeted
    base = f"{emu.url}/_emulator/budgets"
    answer = requests.post(base, json={"venue": "binance", "amount": 1200}, timeout=5)
    assert answer.status_code == 200 and answer.json()["budgets"]["binance"]["amount"] == 1200
    shown = requests.get(base, timeout=5).json()["budgets"]["binance"]
    assert shown == {"amount": 1200, "window_s": 60, "used": 0, "bans": 0, "banned_for_s": 0.0}
    assert requests.post(base, json={"venue": "binance"}, timeout=5).json()["budgets"]["binance"]["amount"] == 6000
    bad_amounts = [0, -5, 1.5, "9", True]
    for bad in [{"venue": "nowhere", "amount": 5}, {"amount": 5}, ["binance"],
                *({"venue": "binance", "amount": amount} for amount in bad_amounts)]:
        refused = requests.post(base, json=bad, timeout=5)
        assert refused.status_code == 400 and refused.json()["error"], bad
    assert requests.post(base, data="not json", timeout=5).status_code == 400
    assert requests.put(base, json={}, timeout=5).status_code == 404
    other = sorted(set(VENUES) - {"binance"})[0]
    emu.set_budget(other, 5)
    assert list(requests.delete(base, json={"venue": "binance"}, timeout=5).json()["budgets"]) == [other]
    assert requests.delete(base, timeout=5).json() == {"ok": True, "budgets": {}}


def test_constructor_budgets_are_checked_and_enforced_on_a_real_clock():
    with pytest.raises(ValueError, match="unknown venue"):
        Emulator(budgets={"nowhere": 5})
    with pytest.raises(ValueError, match="positive whole number"):
        Emulator(budgets={"binance": 0})
    with Emulator(budgets={"binance": 20}) as emu:
        assert requests.get(f"{emu.url}/binance/api/v3/exchangeInfo", timeout=5).status_code == 200
        over = requests.get(f"{emu.url}/binance/api/v3/ping", timeout=5)
        assert (over.status_code, over.headers["Retry-After"]) == (429, "60")
    with Emulator(budgets={"binance": None}) as emu:
        assert emu.budgets()["binance"]["amount"] == 6000


def test_serve_takes_budgets():
    code = ("from datafactory_assets.emulator.server import serve; "
            "serve('127.0.0.1', 0, None, None, budgets={'binance': 1200})")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip().rsplit(" ", 1)[1]
        assert requests.get(f"{url}/_emulator/budgets", timeout=5).json()["budgets"]["binance"]["amount"] == 1200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()


def test_rate_budget_weights_default_to_one():
    budgets = RateBudgets({"x": RateBudget(amount=3, window_s=1, weights={"/heavy": 3})}, clock=Clock())
    budgets.set("x")
    assert budgets.admit("x", "/light") is None
    assert budgets.admit("x", "/heavy").status == 429
