"""The Yahoo dialect through the real yfinance client (with the platform's `EmulatorSession`) and raw HTTP."""

import time

import numpy as np
import pandas as pd
import pytest
import requests
import yfinance as yf
from yfinance.data import YfData
from yfinance.exceptions import YFPricesMissingError, YFRateLimitError

from datafactory_assets.emulator.candles import synthetic_candles
from datafactory_assets.emulator.yahoo import CRUMB, unreported_volume
from datafactory_assets.sources.transport import EmulatorSession

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
CHART = "https://query2.finance.yahoo.com/v8/finance/chart/"


@pytest.fixture(scope="module", autouse=True)
def _yfinance_caches(tmp_path_factory):
    """Keep yfinance's timezone and cookie caches out of the home directory."""
    yf.set_tz_cache_location(str(tmp_path_factory.mktemp("yfinance")))


@pytest.fixture(autouse=True)
def _fresh_memo():
    """yfinance memoizes answers for windows ended over 30 minutes ago, per process: every test must reach the
    emulator."""
    YfData.cache_get.cache_clear()


@pytest.fixture
def raising():
    """yfinance raising its errors instead of logging them and returning an empty frame."""
    yf.config.debug.hide_exceptions = False
    yield
    yf.config.debug.hide_exceptions = True


@pytest.fixture
def session(emu):
    with EmulatorSession(base_url=emu.url, venue="yahoo") as session:
        yield session


def ticker(emu, session, name="BTC-USD"):
    """A Ticker whose timezone is already known, so that the test's own request is the only chart request."""
    primed = yf.Ticker(name, session=session)
    primed.history(period="1d")
    emu.clear_request_log()
    return primed


def hours_ago(hours: int) -> int:
    """The start of the hour `hours` hours ago, in ms."""
    return (time.time_ns() // 1_000_000 // HOUR - hours) * HOUR


def utc(ms: int) -> pd.Timestamp:
    return pd.Timestamp(ms, unit="ms", tz="UTC")


def assert_candles(frame: pd.DataFrame, symbol: str, start_ms: int, end_ms: int, timeframe_ms: int, *, skip=()):
    expected = synthetic_candles(symbol, start_ms, end_ms, timeframe_ms)
    expected = expected.filter(~expected["open_ms"].is_in(list(skip)))
    assert list(frame.index) == [utc(ms) for ms in expected["open_ms"]]
    for column in ("open", "high", "low", "close"):
        assert frame[column.capitalize()].tolist() == expected[column].to_list()
    typical = (expected["open"] + expected["high"] + expected["low"] + expected["close"]) / 4
    volume = np.rint((expected["volume"] * typical).to_numpy()).astype(np.int64)
    if timeframe_ms < DAY:  # Yahoo reports no volume for about half of intraday bars
        volume[unreported_volume(expected["open_ms"].to_numpy())] = 0
    assert frame["Volume"].tolist() == volume.tolist()


def chart_requests(emu):
    return [entry for entry in emu.request_log() if entry["path"].startswith("/v8/finance/chart/")]


def test_history_at_1m_within_30_days_is_exactly_the_synthetic_candles(emu, session):
    start = hours_ago(3 * 24 + 2)
    frame = yf.Ticker("BTC-USD", session=session).history(
        start=utc(start), end=utc(start + 4 * HOUR), interval="1m", prepost=True
    )
    assert str(frame.index.tz) == "UTC"
    assert_candles(frame, "BTC/USDT", start, start + 4 * HOUR, MINUTE)
    (chart,) = [entry for entry in chart_requests(emu) if entry["query"].get("interval") == "1m"]
    assert chart["query"]["period1"] == str(start // 1000) and chart["query"]["crumb"] == CRUMB


def test_about_half_of_intraday_bars_come_without_volume_and_daily_bars_all_with(session):
    start = hours_ago(2 * 24)
    minutes = yf.Ticker("SOL-USD", session=session).history(
        start=utc(start), end=utc(start + 24 * HOUR), interval="1m", prepost=True)
    unreported = minutes["Volume"] == 0
    assert 0.45 < unreported.mean() < 0.55
    # Prices move all the same: bars without volume are not flat placeholders. A rare minute is flat (high == low,
    # about 3 in 10,000 of SOL's), as on a real venue, so the share is asserted, not every bar.
    assert (minutes["High"] > minutes["Low"])[unreported].mean() > 0.99
    days = yf.Ticker("SOL-USD", session=session).history(start=utc(start - 30 * DAY), end=utc(start), interval="1d")
    assert len(days) >= 29 and (days["Volume"] > 0).all()


def test_default_history_drops_each_days_2359_candle_as_with_real_yahoo(emu, session):
    """Yahoo's crypto session ends at 23:59 UTC, and yfinance without `prepost=True` drops candles at the end."""
    midnight = (time.time_ns() // 1_000_000 // DAY - 2) * DAY
    frame = ticker(emu, session, "ETH-USD").history(start=utc(midnight - HOUR), end=utc(midnight + HOUR), interval="1m")
    assert_candles(frame, "ETH/USDT", midnight - HOUR, midnight + HOUR, MINUTE, skip=[midnight - MINUTE])


def test_history_at_1h_for_a_window_over_a_year_old(session):
    start = hours_ago(400 * 24)
    frame = yf.Ticker("SOL-USD", session=session).history(start=utc(start), end=utc(start + 3 * DAY), interval="1h")
    assert_candles(frame, "SOL/USDT", start, start + 3 * DAY, HOUR)


def test_download_with_the_session_gets_every_ticker(session):
    start = hours_ago(50)
    frame = yf.download(["BTC-USD", "DOGE-USD"], start=utc(start), end=utc(start + HOUR), interval="1m",
                        prepost=True, session=session, progress=False, threads=False)
    for name, symbol in (("BTC-USD", "BTC/USDT"), ("DOGE-USD", "DOGE/USDT")):
        assert_candles(frame.xs(name, axis=1, level="Ticker"), symbol, start, start + HOUR, MINUTE)


def test_1m_older_than_30_days_is_refused_with_422(emu, session, raising):
    start = hours_ago(31 * 24)
    btc = ticker(emu, session)
    with pytest.raises(YFPricesMissingError, match="The requested range must be within the last 30 days"):
        btc.history(start=utc(start), end=utc(start + HOUR), interval="1m")
    assert [entry["status"] for entry in chart_requests(emu)] == [422, 422]  # yfinance retries any 4xx/5xx once


def test_yfinance_returns_an_empty_frame_for_refused_windows_by_default(emu, session):
    start = hours_ago(31 * 24)
    assert ticker(emu, session).history(start=utc(start), end=utc(start + HOUR), interval="1m").empty


def test_1m_longer_than_8_days_and_1h_older_than_730_days_are_refused(session):
    now_s = time.time_ns() // 1_000_000_000
    answer = session.get(CHART + "BTC-USD", params={"period1": now_s - 9 * 86_400, "period2": now_s, "interval": "1m"})
    error = answer.json()["chart"]["error"]
    assert (answer.status_code, error["code"]) == (422, "Unprocessable Entity")
    assert error["description"] == (
        f"1m data not available for startTime={now_s - 9 * 86_400} and endTime={now_s}. Only 8 days worth of 1m "
        "granularity data are allowed to be fetched per request."
    )
    answer = session.get(CHART + "BTC-USD", params={"period1": now_s - 731 * 86_400, "period2": now_s - 730 * 86_400,
                                                    "interval": "1h"})
    assert answer.status_code == 422 and answer.json()["chart"]["result"] is None
    assert answer.json()["chart"]["error"]["description"].endswith("must be within the last 730 days.")


def test_429_raises_yfinance_rate_limit_error_even_when_errors_are_hidden(emu, session):
    start = hours_ago(30)
    btc = ticker(emu, session)
    emu.add_fault("yahoo:status:429")
    with pytest.raises(YFRateLimitError):
        btc.history(start=utc(start), end=utc(start + HOUR), interval="1m")
    answers = chart_requests(emu)
    assert [entry["status"] for entry in answers] == [429, 429]
    direct = session.get(CHART + "BTC-USD", params={"range": "1d", "interval": "1m"})
    assert (direct.status_code, direct.text, direct.headers["Retry-After"]) == (429, "Too Many Requests", "1")


def test_a_single_429_is_absorbed_by_yfinances_one_retry(emu, session):
    start = hours_ago(30)
    btc = ticker(emu, session)
    emu.add_fault("yahoo:status:429@1")
    assert_candles(btc.history(start=utc(start), end=utc(start + HOUR), interval="1m", prepost=True),
                   "BTC/USDT", start, start + HOUR, MINUTE)


def test_garbage_hits_only_the_chart_and_yfinance_raises_a_json_error(emu, session, raising):
    start = hours_ago(30)
    btc = ticker(emu, session)
    emu.add_fault("yahoo:garbage")
    with pytest.raises(requests.exceptions.JSONDecodeError):
        btc.history(start=utc(start), end=utc(start + HOUR), interval="1m")
    assert {entry["path"] for entry in emu.request_log() if entry["fault"]} == {"/v8/finance/chart/BTC-USD"}
    assert session.get("https://query1.finance.yahoo.com/v1/test/getcrumb").text == CRUMB


def test_503_reaches_yfinance_as_missing_prices_with_yahoos_reason(emu, session, raising):
    start = hours_ago(30)
    btc = ticker(emu, session)
    emu.add_fault("yahoo:status:503")
    with pytest.raises(YFPricesMissingError, match="injected fault yahoo:status:503"):
        btc.history(start=utc(start), end=utc(start + HOUR), interval="1m")
    assert [entry["status"] for entry in chart_requests(emu)] == [503, 503]


def test_the_cookie_and_crumb_handshake(session):
    cookie_page = session.get("https://fc.yahoo.com", allow_redirects=True)
    assert cookie_page.status_code == 404 and "A3" in session.cookies
    crumb = session.get("https://query1.finance.yahoo.com/v1/test/getcrumb")
    assert (crumb.status_code, crumb.text, crumb.headers["Content-Type"].split(";")[0]) == (200, CRUMB, "text/plain")
    consent = session.get("https://guce.yahoo.com/consent")
    assert 'name="csrfToken"' in consent.text and 'name="sessionId"' in consent.text


def test_chart_meta_and_windows(session):
    start = hours_ago(10)
    query = {"period1": start // 1000, "period2": start // 1000 + 3600, "interval": "1m", "includePrePost": "false"}
    result = session.get(CHART + "ETH-BTC", params=query).json()["chart"]["result"][0]
    meta = result["meta"]
    assert (meta["currency"], meta["symbol"], meta["instrumentType"], meta["exchangeTimezoneName"]) == (
        "BTC", "ETH-BTC", "CRYPTOCURRENCY", "UTC")
    assert (meta["priceHint"], meta["dataGranularity"], meta["gmtoffset"]) == (8, "1m", 0)
    assert result["timestamp"] == [(start + i * MINUTE) // 1000 for i in range(60)]  # period2 is exclusive
    day = start // DAY * DAY // 1000
    assert meta["tradingPeriods"][-1] == [{"timezone": "UTC", "start": day, "end": day + 86_340, "gmtoffset": 0}]
    prepost = session.get(CHART + "ETH-BTC", params={**query, "includePrePost": "true"}).json()
    assert set(prepost["chart"]["result"][0]["meta"]["tradingPeriods"]) == {"pre", "regular", "post"}
    daily = session.get(CHART + "XRP-USD", params={"range": "1d", "interval": "1d"}).json()["chart"]["result"][0]
    today = time.time_ns() // 1_000_000 // DAY * DAY
    assert daily["timestamp"] == [today // 1000] and daily["meta"]["range"] == "1d"
    assert daily["indicators"]["adjclose"][0]["adjclose"] == daily["indicators"]["quote"][0]["close"]


def test_unknown_tickers_and_intervals_are_refused_in_yahoos_shape(session):
    answer = session.get(CHART + "FOO-USD", params={"range": "1d", "interval": "1m"})
    assert answer.status_code == 404
    error = {"code": "Not Found", "description": "No data found, symbol may be delisted"}
    assert answer.json() == {"chart": {"result": None, "error": error}}
    answer = session.get(CHART + "BTC-USD", params={"range": "1d", "interval": "7m"})
    assert answer.status_code == 400 and answer.json()["chart"]["error"]["code"] == "Bad Request"
