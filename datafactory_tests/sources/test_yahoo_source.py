"""The Yahoo adapter (real yfinance) against the emulator: Yahoo's depth and span rules, the canonical frame with
base-unit volume, the 23:59 candle, error classification, and yfinance's memo and hidden exceptions kept in check."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import yfinance as yf

from datafactory_assets.emulator.candles import synthetic_candles
from datafactory_assets.emulator.yahoo import unreported_volume
from datafactory_assets.frames import CANDLE_SCHEMA
from datafactory_assets.resilience.breaker import SourceBreaker
from datafactory_assets.resilience.chain import ChainExhaustedError, ChainMember, FailoverChain
from datafactory_assets.resilience.guard import SourceGuard
from datafactory_assets.resilience.retry import RetrySettings
from datafactory_assets.sources.base import BrokenAnswerError, ErrorKind, SourceError
from datafactory_assets.sources.transport import EmulatorSession
from datafactory_assets.sources.yahoo_source import YahooCandleSource
from datafactory_tests.helpers import ms

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("yfinance")


@pytest.fixture(autouse=True)
def _yfinance_defaults():
    """The adapter makes yfinance raise, process-wide; other tests in this worker expect its default back."""
    hidden = yf.config.debug.hide_exceptions
    yield
    yf.config.debug.hide_exceptions = hidden


@pytest.fixture
def yahoo(emulator, cache_dir):
    return YahooCandleSource(emulator_url=emulator.url, cache_dir=cache_dir)


def hours_ago(hours: int) -> datetime:
    """The start of the hour `hours` hours ago."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours)


def chart_requests(emulator) -> list[dict]:
    return [entry for entry in emulator.request_log() if entry["path"].startswith("/v8/finance/chart/")]


def assert_candles(frame, symbol: str, start: datetime, end: datetime, timeframe_ms: int = MINUTE):
    """Prices exactly as served; volume back in base units, within the rounding of Yahoo's whole-dollar volume."""
    want = synthetic_candles(symbol, ms(start), ms(end), timeframe_ms)
    assert frame["ts"].dt.epoch("ms").to_list() == want["open_ms"].to_list()
    for column in ("open", "high", "low", "close"):
        assert frame[column].to_list() == want[column].to_list()
    typical = ((want["open"] + want["high"] + want["low"] + want["close"]) / 4).to_numpy()
    unreported = unreported_volume(want["open_ms"].to_numpy())  # Yahoo's intraday bars without volume
    error = np.abs(frame["volume"].to_numpy() - np.where(unreported, 0.0, want["volume"].to_numpy()))
    assert (error <= 0.5 / typical + 1e-9 * want["volume"].to_numpy()).all()
    assert set(frame["symbol"]) == {symbol} and set(frame["source"]) == {"yahoo"}


def test_a_1m_window_over_8_days_goes_out_in_7_day_requests_and_is_exactly_the_candles(yahoo, emulator):
    start = hours_ago(10 * 24)
    end = start + timedelta(days=9)
    result = yahoo.fetch_range("BTC/USDT", start=start, end=end, timeframe="1m")
    assert_candles(result.frame, "BTC/USDT", start, end)
    assert dict(result.frame.schema) == CANDLE_SCHEMA
    assert [(r.rows, r.outcome, r.source) for r in result.requests] == [(10_080, "ok", "yahoo"), (2880, "ok", "yahoo")]
    assert [(r.window_start, r.window_end) for r in result.requests] == [
        (start.replace(tzinfo=None), start.replace(tzinfo=None) + timedelta(days=7)),
        (start.replace(tzinfo=None) + timedelta(days=7), end.replace(tzinfo=None)),
    ]
    queries = [entry["query"] for entry in chart_requests(emulator)]
    assert [(q["interval"], q["includePrePost"]) for q in queries] == [("1m", "True")] * 2
    assert [int(q["period2"]) - int(q["period1"]) for q in queries] == [7 * 86_400, 2 * 86_400]


def test_each_days_2359_candle_is_kept(yahoo):
    midnight = hours_ago(24).replace(hour=0) - timedelta(days=1)
    frame = yahoo.fetch_range("ETH/USDT", start=midnight - timedelta(hours=1), end=midnight + timedelta(hours=1),
                              timeframe="1m").frame
    assert (midnight - timedelta(minutes=1)).replace(tzinfo=None) in frame["ts"].to_list()
    assert_candles(frame, "ETH/USDT", midnight - timedelta(hours=1), midnight + timedelta(hours=1))


def test_the_still_open_candle_is_not_returned(yahoo):
    now = datetime.now(UTC)
    frame = yahoo.fetch_range("BTC/USDT", start=now - timedelta(minutes=30), end=now + timedelta(hours=1),
                              timeframe="1m").frame
    assert frame.height >= 29
    assert (frame["ts"].max() + timedelta(minutes=1)).replace(tzinfo=UTC) <= now


def test_an_hourly_window_over_a_year_old_is_one_request(yahoo):
    start = hours_ago(400 * 24)
    result = yahoo.fetch_range("SOL/USDT", start=start, end=start + timedelta(days=3), timeframe="1h")
    assert_candles(result.frame, "SOL/USDT", start, start + timedelta(days=3), HOUR)
    assert [r.rows for r in result.requests] == [72]


def test_cannot_serve_names_yahoos_depth_for_the_interval(yahoo):
    now = datetime.now(UTC)
    assert "only within the last 30 days" in yahoo.cannot_serve(now - timedelta(days=31), "1m")
    assert yahoo.cannot_serve(now - timedelta(days=29), "1m") is None
    assert "within the last 60 days" in yahoo.cannot_serve(now - timedelta(days=61), "5m")
    assert yahoo.cannot_serve(now - timedelta(days=59), "15m") is None
    assert "within the last 730 days" in yahoo.cannot_serve(now - timedelta(days=731), "1h")
    assert yahoo.cannot_serve((now - timedelta(days=729)).replace(tzinfo=None), "1h") is None
    assert yahoo.cannot_serve(now, "3m") == "yahoo has no 3m candles; it serves 1m, 2m, 5m, 15m, 30m, 1h"


def test_a_timeframe_yahoo_lacks_fails_without_a_request(yahoo, emulator):
    with pytest.raises(SourceError, match="no 10m candles") as caught:
        yahoo.fetch_range("BTC/USDT", start=hours_ago(2), end=hours_ago(1), timeframe="10m")
    assert caught.value.kind is ErrorKind.PERMANENT and chart_requests(emulator) == []


def test_the_chain_skips_yahoo_for_a_window_beyond_its_depth(yahoo, emulator, tmp_path):
    guard = SourceGuard(source="yahoo", limiter=None, retry=RetrySettings(), ban_s=60,
                        breaker=SourceBreaker(path=tmp_path / "state.sqlite", source="yahoo", fail_max=5,
                                              reset_timeout_s=60))
    chain = FailoverChain([ChainMember(yahoo, guard)], validate=lambda frame: [])
    with pytest.raises(ChainExhaustedError, match=r"yahoo \(passed over\): yahoo serves 1m candles only within"):
        chain.fetch("BTC/USDT", start=hours_ago(31 * 24), end=hours_ago(31 * 24 - 1), timeframe="1m")
    assert chart_requests(emulator) == []


def test_a_window_yahoo_refuses_as_too_old_is_permanent_with_its_reason(yahoo):
    start = hours_ago(31 * 24)
    with pytest.raises(SourceError, match="HTTP 422 .* must be within the last 30 days") as caught:
        yahoo.fetch_range("BTC/USDT", start=start, end=start + timedelta(hours=1), timeframe="1m")
    assert caught.value.kind is ErrorKind.PERMANENT
    assert [r.error_class for r in caught.value.requests] == ["permanent:YFPricesMissingError"]


def test_an_unknown_ticker_is_permanent(yahoo):
    with pytest.raises(SourceError, match="FOO-USD.*HTTP 404") as caught:
        yahoo.fetch_range("FOO/USDT", start=hours_ago(3), end=hours_ago(2), timeframe="1m")
    assert caught.value.kind is ErrorKind.PERMANENT


@pytest.mark.parametrize(
    ("fault", "kind", "error_class", "retry_after_s"),
    [
        ("status:429", ErrorKind.THROTTLED, "throttled:YFRateLimitError", 1.0),
        ("status:429:9", ErrorKind.THROTTLED, "throttled:YFRateLimitError", 9.0),
        ("status:500", ErrorKind.TRANSIENT, "transient:YFPricesMissingError", None),
        ("status:503", ErrorKind.TRANSIENT, "transient:YFPricesMissingError", 1.0),
        ("reset", ErrorKind.TRANSIENT, "transient:ConnectionError", None),
        ("garbage", ErrorKind.BROKEN, "broken:JSONDecodeError", None),
    ],
)
def test_each_failure_is_classified(yahoo, emulator, fault, kind, error_class, retry_after_s):
    emulator.add_fault(f"yahoo:{fault}")
    with pytest.raises(SourceError) as caught:
        yahoo.fetch_range("BTC/USDT", start=hours_ago(30), end=hours_ago(29), timeframe="1m")
    assert caught.value.kind is kind, caught.value
    assert isinstance(caught.value, BrokenAnswerError) == (kind is ErrorKind.BROKEN)
    assert caught.value.retry_after_s == retry_after_s
    assert [(r.outcome, r.error_class, r.rows) for r in caught.value.requests] == [("error", error_class, 0)]


def test_a_timeout_is_transient(emulator, cache_dir):
    yahoo = YahooCandleSource(emulator_url=emulator.url, cache_dir=cache_dir, timeout_s=0.3)
    emulator.add_fault("yahoo:timeout:2@1")
    with pytest.raises(SourceError, match="ReadTimeout") as caught:
        yahoo.fetch_range("BTC/USDT", start=hours_ago(30), end=hours_ago(29), timeframe="1m")
    assert caught.value.kind is ErrorKind.TRANSIENT


def test_a_failed_answer_for_a_past_window_is_not_served_again_from_yfinances_memo(yahoo, emulator):
    start = hours_ago(30)
    emulator.add_fault("yahoo:status:503@2")  # yfinance asks twice on any error status
    with pytest.raises(SourceError):
        yahoo.fetch_range("BTC/USDT", start=start, end=start + timedelta(hours=1), timeframe="1m")
    assert_candles(yahoo.fetch_range("BTC/USDT", start=start, end=start + timedelta(hours=1), timeframe="1m").frame,
                   "BTC/USDT", start, start + timedelta(hours=1))
    assert [entry["status"] for entry in chart_requests(emulator)] == [503, 503, 200]


def test_the_guard_retries_a_transient_failure_and_every_attempt_is_recorded(yahoo, emulator, tmp_path):
    guard = SourceGuard(source="yahoo", limiter=None, retry=RetrySettings(backoff_s=0.01), ban_s=60,
                        breaker=SourceBreaker(path=tmp_path / "state.sqlite", source="yahoo", fail_max=5,
                                              reset_timeout_s=60))
    emulator.add_fault("yahoo:status:500@2")
    start = hours_ago(30)
    result = yahoo.fetch_range("BTC/USDT", start=start, end=start + timedelta(hours=1), timeframe="1m", guard=guard)
    assert [(r.outcome, r.rows) for r in result.requests] == [("error", 0), ("ok", 60)] and guard.retries == 1


def test_hidden_yfinance_exceptions_are_raised_anyway(yahoo):
    yf.config.debug.hide_exceptions = True
    with pytest.raises(SourceError, match="HTTP 422"):
        yahoo.fetch_range("BTC/USDT", start=hours_ago(31 * 24), end=hours_ago(31 * 24 - 1), timeframe="1m")


def test_an_answer_without_candles_is_an_empty_window(yahoo, emulator):
    emulator.add_fault("yahoo:empty")
    result = yahoo.fetch_range("BTC/USDT", start=hours_ago(30), end=hours_ago(29), timeframe="1m")
    assert result.frame.is_empty() and [(r.outcome, r.rows) for r in result.requests] == [("empty", 0)]


def test_tickers_quote_notes_and_the_symbol_map(emulator, cache_dir):
    yahoo = YahooCandleSource(emulator_url=emulator.url, cache_dir=cache_dir, symbol_map={"WBTC/USDT": "BTC-USD"})
    assert (yahoo.ticker("BTC/USDT"), yahoo.ticker("ETH/BTC"), yahoo.ticker("WBTC/USDT")) == (
        "BTC-USD", "ETH-BTC", "BTC-USD")
    assert yahoo.quote_note("BTC/USDT") == "yahoo serves BTC-USD (USD) for BTC/USDT (USDT)"
    assert yahoo.quote_note("ETH/BTC") is None
    start = hours_ago(5)
    frame = yahoo.fetch_range("WBTC/USDT", start=start, end=start + timedelta(minutes=10), timeframe="1m").frame
    want = synthetic_candles("BTC/USDT", ms(start), ms(start) + 10 * MINUTE)
    assert frame["close"].to_list() == want["close"].to_list() and set(frame["symbol"]) == {"WBTC/USDT"}
    eth_btc = yahoo.fetch_range("ETH/BTC", start=start, end=start + timedelta(minutes=10), timeframe="1m").frame
    assert eth_btc.height == 10


def test_without_the_emulator_yfinance_keeps_its_own_session():
    yahoo = YahooCandleSource()
    assert not isinstance(yahoo.session, EmulatorSession) and yahoo.session.get.__name__ == "watched_get"
    assert yahoo.cannot_serve(datetime.now(UTC) - timedelta(days=1), "1m") is None


def test_a_chain_with_yahoo_imports_yfinance_only_when_yahoo_is_asked(emulator):
    """Every run builds its symbols' chains, Yahoo in them; yfinance brings pandas, a quarter of a run's imports."""
    script = f"""
import sys
from datetime import UTC, datetime, timedelta
from datafactory_assets.sources.resource import SourcesResource
chain = SourcesResource(emulator_url={emulator.url!r}).chain(["binance", "yahoo"], validate=lambda frame: frame)
print(sorted(m for m in ("yfinance", "pandas") if m in sys.modules))
start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
yahoo = chain.members[1].source
print(yahoo.fetch_range("BTC/USDT", start=start, end=start + timedelta(minutes=3), timeframe="1m").frame.height)
print(sorted(m for m in ("yfinance", "pandas") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[:3] == ["[]", "3", "['pandas', 'yfinance']"]
