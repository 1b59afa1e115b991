"""The CoinGecko reference against the emulator: prices at the points, granularity, 90-day requests, the demo key,
error classification and the demo plan's budget."""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from datafactory_assets.emulator.candles import synthetic_candles
from datafactory_assets.sources.base import BrokenAnswerError, ErrorKind, SourceError
from datafactory_assets.sources.coingecko_source import PRICE_SCHEMA, CoinGeckoReference
from datafactory_tests.helpers import ms

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000


@pytest.fixture
def coingecko(emulator):
    return CoinGeckoReference(emulator_url=emulator.url)


def price_at(symbol: str, t_ms: int) -> float:
    """The price at instant t: on the line from the open to the close of the 1-minute candle holding it."""
    candle = synthetic_candles(symbol, t_ms // MINUTE * MINUTE, t_ms // MINUTE * MINUTE + 1).row(0, named=True)
    return round(candle["open"] + (candle["close"] - candle["open"]) * (t_ms % MINUTE) / MINUTE, 8)


def chart_requests(emulator) -> list[dict]:
    return [entry for entry in emulator.request_log() if entry["path"].endswith("/market_chart/range")]


@pytest.mark.parametrize(
    ("symbol", "back", "span", "step_ms", "requests"),
    [
        ("BTC/USDT", timedelta(hours=23), timedelta(hours=23), 5 * MINUTE, 1),  # a day ending now: 5-minutely
        ("ADA/USDT", timedelta(hours=23), timedelta(hours=22), 5 * MINUTE, 1),  # asked up to now: 5-minutely
        ("ETH/USDT", timedelta(days=10), timedelta(days=1), HOUR, 1),
        ("SOL/USDT", timedelta(days=40), timedelta(days=30), HOUR, 1),
        ("DOGE/USDT", timedelta(days=300), timedelta(days=200), HOUR, 3),  # asked 90 days at a time: still hourly
    ],
)
def test_prices_are_coingeckos_points_as_served(coingecko, emulator, symbol, back, span, step_ms, requests):
    start = datetime.now(UTC) - back
    result = coingecko.fetch_prices(symbol, start=start, end=start + span)
    times = result.frame["ts"].dt.epoch("ms").to_list()
    marks = [round(t / step_ms) * step_ms for t in times]  # one point per mark, stamped off it
    assert marks == list(range(marks[0], marks[-1] + 1, step_ms)) and len(times) >= span // timedelta(
        milliseconds=step_ms) - 2
    assert ms(start) // 1000 * 1000 <= times[0] and times[-1] <= ms(start + span) // 1000 * 1000
    assert result.frame["price"].head(3).to_list() == [price_at(symbol, t) for t in times[:3]]
    assert dict(result.frame.schema) == PRICE_SCHEMA
    assert [r.outcome for r in result.requests] == ["ok"] * requests
    assert [q["query"]["vs_currency"] for q in chart_requests(emulator)] == ["usd"] * requests


def test_points_lie_within_the_window_bounds_included(coingecko):
    start = datetime(*datetime.now(UTC).timetuple()[:3]) - timedelta(days=5)  # naive UTC midnight
    frame = coingecko.prices("ADA/USDT", start=start, end=start + timedelta(hours=6))
    stamps = [t - start - timedelta(hours=h) for h, t in enumerate(frame["ts"].to_list())]
    assert len(stamps) == 6 and all(timedelta(seconds=40) <= s < timedelta(seconds=48) for s in stamps)


def test_an_unmapped_base_is_permanent_without_a_request(coingecko, emulator):
    with pytest.raises(SourceError, match="no CoinGecko id for PEPE/USDT") as caught:
        coingecko.prices("PEPE/USDT", start=datetime.now(UTC) - timedelta(days=2), end=datetime.now(UTC))
    assert caught.value.kind is ErrorKind.PERMANENT and chart_requests(emulator) == []


def test_the_demo_plans_history_limit_is_permanent_with_coingeckos_message(coingecko):
    start = datetime.now(UTC) - timedelta(days=400)
    with pytest.raises(SourceError, match=r"HTTP 401: .*within the past 365 days\. \(error 10012\)") as caught:
        coingecko.prices("BTC/USDT", start=start, end=start + timedelta(days=1))
    assert caught.value.kind is ErrorKind.PERMANENT
    assert [(r.outcome, r.error_class) for r in caught.value.requests] == [("error", "permanent:HTTPError")]


@pytest.mark.parametrize(
    ("fault", "kind", "error_class", "retry_after_s"),
    [
        ("status:429", ErrorKind.THROTTLED, "throttled:HTTPError", 1.0),
        ("status:429:12", ErrorKind.THROTTLED, "throttled:HTTPError", 12.0),
        ("status:500", ErrorKind.TRANSIENT, "transient:HTTPError", None),
        ("status:503", ErrorKind.TRANSIENT, "transient:HTTPError", 1.0),
        ("status:400", ErrorKind.PERMANENT, "permanent:HTTPError", None),
        ("reset", ErrorKind.TRANSIENT, "transient:ConnectionError", None),
        ("garbage", ErrorKind.BROKEN, "broken:JSONDecodeError", None),
    ],
)
def test_each_failure_is_classified(coingecko, emulator, fault, kind, error_class, retry_after_s):
    emulator.add_fault(f"coingecko:{fault}")
    with pytest.raises(SourceError) as caught:
        coingecko.prices("BTC/USDT", start=datetime.now(UTC) - timedelta(days=2), end=datetime.now(UTC))
    assert caught.value.kind is kind, caught.value
    assert isinstance(caught.value, BrokenAnswerError) == (kind is ErrorKind.BROKEN)
    assert caught.value.retry_after_s == retry_after_s
    assert [(r.outcome, r.error_class) for r in caught.value.requests] == [("error", error_class)]


def test_the_demo_budget_answers_429_with_retry_after(coingecko, emulator):
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
    window = {"start": start, "end": start + timedelta(days=1)}
    emulator.set_budget("coingecko", 3)
    try:
        for _ in range(3):
            assert coingecko.prices("ETH/USDT", **window).height == 24  # 24 hours, each point 40-48 s past its hour
        with pytest.raises(SourceError, match="exceeded the Rate Limit") as caught:
            coingecko.prices("ETH/USDT", **window)
    finally:
        emulator.clear_budgets("coingecko")
    assert caught.value.kind is ErrorKind.THROTTLED and 1 <= caught.value.retry_after_s <= 60


def test_the_demo_key_is_sent_and_never_shown(emulator):
    coingecko = CoinGeckoReference(emulator_url=emulator.url, api_key="CG-secret-key")
    sent = []
    coingecko.session.hooks["response"].append(
        lambda answer, *args, **kwargs: sent.append(answer.request.headers.get("x-cg-demo-api-key")))
    start = datetime.now(UTC) - timedelta(days=2)
    assert not coingecko.prices("XRP/USDT", start=start, end=start + timedelta(hours=2)).is_empty()
    emulator.add_fault("coingecko:status:503")
    with pytest.raises(SourceError) as caught:
        coingecko.prices("XRP/USDT", start=start, end=start + timedelta(hours=2))
    assert sent == ["CG-secret-key"] * 2
    assert "CG-secret" not in str(caught.value) + repr(caught.value.requests)


def test_an_empty_window_is_an_empty_frame(coingecko, emulator):
    emulator.add_fault("coingecko:empty")
    result = coingecko.fetch_prices("BNB/USDT", start=datetime.now(UTC) - timedelta(days=2), end=datetime.now(UTC))
    assert result.frame.is_empty() and result.frame.schema == pl.Schema(PRICE_SCHEMA)
    assert [(r.outcome, r.rows) for r in result.requests] == [("empty", 0)]
