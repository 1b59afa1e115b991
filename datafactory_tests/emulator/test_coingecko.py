"""The CoinGecko dialect through plain `requests` with the platform's `EmulatorSession`."""

import time

import pytest

from datafactory_assets.emulator.candles import synthetic_candles
from datafactory_assets.sources.transport import EmulatorSession

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
API = "https://api.coingecko.com/api/v3"


@pytest.fixture
def session(emu):
    with EmulatorSession(base_url=emu.url, venue="coingecko") as session:
        yield session


def chart(session, coin="bitcoin", **query):
    return session.get(f"{API}/coins/{coin}/market_chart/range", params={"vs_currency": "usd", **query})


def now_ms():
    return time.time_ns() // 1_000_000


def price_at(symbol: str, t_ms: int) -> float:
    """The price at instant t: on the line from the open to the close of the 1-minute candle holding it."""
    candle = synthetic_candles(symbol, t_ms // MINUTE * MINUTE, t_ms // MINUTE * MINUTE + 1).row(0, named=True)
    return round(candle["open"] + (candle["close"] - candle["open"]) * (t_ms % MINUTE) / MINUTE, 8)


def test_ping(session):
    assert session.get(f"{API}/ping").json() == {"gecko_says": "(V3) To the Moon!"}


@pytest.mark.parametrize(
    ("coin", "symbol", "back_ms", "span_ms", "step_ms"),
    [
        ("bitcoin", "BTC/USDT", 23 * HOUR, 23 * HOUR, 5 * MINUTE),  # a day at most, ending now: 5-minutely
        ("cardano", "ADA/USDT", 23 * HOUR, 20 * HOUR, HOUR),  # within the last day but not ending now: hourly
        ("ethereum", "ETH/USDT", 10 * DAY, DAY, HOUR),  # a day, but not the last one: hourly
        ("solana", "SOL/USDT", 40 * DAY, 30 * DAY, HOUR),
        ("dogecoin", "DOGE/USDT", 300 * DAY, 200 * DAY, DAY),  # above 90 days: daily, at 00:00 UTC
    ],
)
def test_granularity_stamps_and_prices_are_coingeckos(session, coin, symbol, back_ms, span_ms, step_ms):
    start = now_ms() - back_ms
    body = chart(session, coin, **{"from": start // 1000, "to": (start + span_ms) // 1000}).json()
    times = [t for t, _ in body["prices"]]
    marks = [round(t / step_ms) * step_ms for t in times]  # the mark each point belongs to
    assert marks == list(range(marks[0], marks[-1] + 1, step_ms)) and len(marks) >= span_ms // step_ms - 1
    assert start // 1000 * 1000 <= times[0] and times[-1] <= (start + span_ms) // 1000 * 1000
    offsets = {t - mark for t, mark in zip(times, marks)}
    if step_ms == 5 * MINUTE:  # just before the mark, as 1779027899041 is
        assert all(-1000 < offset <= -300 for offset in offsets)
    elif step_ms == HOUR:  # 40 to 48 s past the hour, as 1704067241331 is
        assert all(40_000 <= offset < 48_000 for offset in offsets) and len(offsets) > 1
    else:
        assert offsets == {0}
    prices = [price for _, price in body["prices"]]
    assert prices[:3] == [price_at(symbol, t) for t in times[:3]]
    assert [t for t, _ in body["market_caps"]] == [t for t, _ in body["total_volumes"]] == times
    caps = [cap / price for (_, cap), (_, price) in zip(body["market_caps"], body["prices"])]
    assert max(caps) == pytest.approx(min(caps)) and all(volume > 0 for _, volume in body["total_volumes"])


def test_an_instants_price_lies_inside_the_minute_holding_it_not_at_a_close(session):
    start = now_ms() - 3 * DAY
    body = chart(session, "bitcoin", **{"from": start // 1000, "to": (start + 6 * HOUR) // 1000}).json()
    for t, price in body["prices"]:
        minute = synthetic_candles("BTC/USDT", t // MINUTE * MINUTE, t // MINUTE * MINUTE + 1).row(0, named=True)
        assert minute["low"] <= price <= minute["high"] and t % MINUTE != 0


def test_points_stop_at_now_and_iso_dates_are_accepted(session):
    body = chart(session, "cardano", **{"from": (now_ms() - 2 * HOUR) / 1000, "to": now_ms() // 1000 + 3600}).json()
    assert 0 <= now_ms() - body["prices"][-1][0] < 5 * MINUTE + 1000
    day = time.strftime("%Y-%m-%d", time.gmtime(now_ms() / 1000 - 20 * 86_400))
    body = chart(session, "ripple", **{"from": day, "to": day + "T06:00"}).json()
    assert len(body["prices"]) == 6 and 40_000 <= body["prices"][0][0] % DAY < 48_000  # 00:00:4x to 05:00:4x


def test_errors_are_in_coingeckos_shapes(session):
    window = {"from": now_ms() // 1000 - 3600, "to": now_ms() // 1000}
    answer = chart(session, "notacoin", **window)
    assert (answer.status_code, answer.json()) == (404, {"error": "coin not found"})
    answer = chart(session, "bitcoin", **window, vs_currency="eur")
    assert (answer.status_code, answer.json()) == (400, {"error": "invalid vs_currency"})
    answer = chart(session, "bitcoin", **{"from": now_ms() // 1000 - 400 * 86_400, "to": now_ms() // 1000})
    status = answer.json()["error"]["status"]
    assert (answer.status_code, status["error_code"]) == (401, 10012)
    assert "within the past 365 days" in status["error_message"]


def test_the_demo_key_header_is_accepted(session):
    answer = session.get(f"{API}/ping", headers={"x-cg-demo-api-key": "CG-emulator"})
    assert answer.status_code == 200


def test_the_demo_budget_of_calls_per_minute_answers_429(emu, session):
    emu.set_budget("coingecko", 3)
    try:
        assert [session.get(f"{API}/ping").status_code for _ in range(3)] == [200] * 3
        refused = chart(session, **{"from": now_ms() // 1000 - 3600, "to": now_ms() // 1000})
    finally:
        emu.clear_budgets("coingecko")
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json() == {"status": {"error_code": 429, "error_message": (
        "You've exceeded the Rate Limit. Please visit https://www.coingecko.com/en/api/pricing to subscribe to our "
        "API plans for higher rate limits.")}}


def test_faults_hit_the_chart_not_the_ping(emu, session):
    window = {"from": now_ms() // 1000 - 3600, "to": now_ms() // 1000}
    emu.add_fault("coingecko:status:503@1")
    emu.add_fault("coingecko:garbage@1")
    assert session.get(f"{API}/ping").status_code == 200
    assert chart(session, **window).status_code == 503
    garbage = chart(session, **window)
    assert garbage.status_code == 200 and garbage.content.startswith(b"[[")
    assert chart(session, **window).json()["prices"]
    assert [entry["fault"] for entry in emu.request_log()] == [None, "coingecko:status:503@1", "coingecko:garbage@1",
                                                               None]


def test_the_coins_list_is_every_coin_once_with_lower_case_symbols_that_repeat(session):
    coins = session.get(f"{API}/coins/list").json()
    assert all(set(coin) == {"id", "symbol", "name"} and coin["symbol"] == coin["symbol"].lower() for coin in coins)
    ids = [coin["id"] for coin in coins]
    assert ids == sorted(set(ids)) and len(ids) > 300  # the realistic market's bases, and more coins than bases
    by_symbol = {}
    for coin in coins:
        by_symbol.setdefault(coin["symbol"], []).append(coin["id"])
    assert by_symbol["btc"] == ["bitcoin", "bitcoin-inu"]
    assert sorted(by_symbol["eth"]) == ["bridged-ethereum", "ethereum", "ethereum-inu"]


def test_markets_answer_the_named_coins_by_market_cap_with_their_price_now(session):
    answer = session.get(f"{API}/coins/markets", params={
        "vs_currency": "usd", "ids": "ethereum,bitcoin,bitcoin-inu,bridged-ethereum,no-such-coin"})
    rows = answer.json()
    assert answer.status_code == 200 and [r["id"] for r in rows] == [
        "bitcoin-inu", "bitcoin", "ethereum", "bridged-ethereum"]  # the impostor reports the largest cap
    assert [r["market_cap_rank"] for r in rows] == sorted(r["market_cap_rank"] for r in rows)
    btc = rows[1]
    last = synthetic_candles("BTC/USDT", now_ms() // MINUTE * MINUTE - MINUTE, now_ms())["close"].to_list()
    assert btc["current_price"] in last and (btc["symbol"], btc["name"]) == ("btc", "Bitcoin")
    assert btc["market_cap"] == round(btc["current_price"] * btc["circulating_supply"])
    assert rows[0]["current_price"] < btc["current_price"] / 3  # same symbol, another coin
    assert rows[3]["current_price"] == rows[2]["current_price"] and rows[3]["market_cap"] * 999 < rows[2]["market_cap"]
    assert set(btc) >= {"image", "total_volume", "high_24h", "low_24h", "price_change_percentage_24h", "last_updated"}


def test_markets_refuse_what_coingecko_refuses(session):
    assert session.get(f"{API}/coins/markets", params={"ids": "bitcoin"}).json() == {
        "error": "Missing parameter vs_currency"}
    too_many = session.get(f"{API}/coins/markets", params={"vs_currency": "usd", "ids": ",".join(
        f"coin-{i}" for i in range(251))})
    assert too_many.status_code == 400
    paged = session.get(f"{API}/coins/markets", params={"vs_currency": "usd", "ids": "bitcoin,ethereum,solana",
                                                        "per_page": 2, "page": 2}).json()
    assert [r["id"] for r in paged] == ["solana"]


def test_an_impostors_chart_is_its_own_price_not_the_real_coins(session):
    start = now_ms() - 3 * DAY
    real = chart(session, "bitcoin", **{"from": start // 1000, "to": (start + HOUR * 5) // 1000}).json()["prices"]
    fake = chart(session, "bitcoin-inu", **{"from": start // 1000, "to": (start + HOUR * 5) // 1000}).json()["prices"]
    assert [t for t, _ in fake] == [t for t, _ in real]
    ratios = {round(f / r, 6) for (_, f), (_, r) in zip(fake, real, strict=True)}
    assert len(ratios) == 1 and ratios.pop() < 0.35
