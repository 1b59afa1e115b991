"""The ccxt adapter against the emulator: pagination, the open candle, broken answers and error classification."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from datafactory_assets.datasets import OPEN_INTEREST, SPOT_CANDLES
from datafactory_assets.emulator import perp_series
from datafactory_assets.emulator.candles import synthetic_candles
from datafactory_assets.frames import candles_from_rows
from datafactory_assets.sources.base import BrokenAnswerError, ErrorKind, SourceError
from datafactory_assets.sources.ccxt_source import CcxtCandleSource, point_at_emulator
from datafactory_tests.helpers import ms

START = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.fixture
def binance(emulator):
    return CcxtCandleSource("binance", emulator_url=emulator.url)


def test_a_window_longer_than_a_page_is_fetched_forward_exactly(binance, emulator):
    end = START + timedelta(days=2, hours=3)
    result = binance.fetch_range("ETH/USDT", start=START, end=end, timeframe="1m")
    want = synthetic_candles("ETH/USDT", ms(START), ms(end))
    assert result.frame["ts"].dt.epoch("ms").to_list() == want["open_ms"].to_list()
    assert result.frame["close"].to_list() == want["close"].to_list()
    assert [r.rows for r in result.requests] == [1000, 1000, 1000, 62]  # one candle more on each side
    assert all(r.outcome == "ok" and r.source == "binance" for r in result.requests)


def test_the_still_open_candle_is_not_returned(binance):
    now = datetime.now(UTC)
    result = binance.fetch_range("BTC/USDT", start=now - timedelta(minutes=30), end=now + timedelta(hours=1),
                                 timeframe="1m")
    last_close = result.frame["ts"].max() + timedelta(minutes=1)
    assert last_close.replace(tzinfo=UTC) <= now


def test_a_garbled_answer_is_a_broken_answer_not_an_empty_window(binance, emulator):
    emulator.add_fault("binance:garbage@1")
    with pytest.raises(BrokenAnswerError, match="not JSON") as caught:
        binance.fetch_range("BTC/USDT", start=START, end=START + timedelta(hours=1), timeframe="1m")
    assert caught.value.kind is ErrorKind.BROKEN
    assert [(r.outcome, r.error_class) for r in caught.value.requests] == [("error", "broken:BrokenAnswerError")]


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("status:429", ErrorKind.THROTTLED),
        ("status:418", ErrorKind.BANNED),
        ("status:451", ErrorKind.BANNED),
        ("status:500", ErrorKind.TRANSIENT),
        ("status:502", ErrorKind.TRANSIENT),
        ("status:503", ErrorKind.TRANSIENT),
        ("status:504", ErrorKind.TRANSIENT),
        ("garbage", ErrorKind.BROKEN),
    ],
)
def test_each_failure_is_classified(binance, emulator, fault, kind):
    binance.exchange.load_markets()
    emulator.add_fault(f"binance:{fault}@1")
    with pytest.raises(SourceError) as caught:
        binance.fetch_range("BTC/USDT", start=START, end=START + timedelta(hours=1), timeframe="1m")
    assert caught.value.kind is kind, caught.value


def test_retry_after_is_read_from_the_answer(binance, emulator):
    binance.exchange.load_markets()
    emulator.add_fault("binance:status:429:7@1")
    with pytest.raises(SourceError) as caught:
        binance.fetch_range("BTC/USDT", start=START, end=START + timedelta(hours=1), timeframe="1m")
    assert caught.value.retry_after_s == 7


def test_an_unknown_symbol_is_permanent(binance):
    with pytest.raises(SourceError) as caught:
        binance.fetch_range("NOPE/USDT", start=START, end=START + timedelta(hours=1), timeframe="1m")
    assert caught.value.kind is ErrorKind.PERMANENT


def test_kraken_says_it_cannot_serve_windows_older_than_its_719_committed_candles(emulator):
    kraken = CcxtCandleSource("kraken", emulator_url=emulator.url)
    now = datetime.now(UTC)
    assert "latest 719 candles" in kraken.cannot_serve(now - timedelta(hours=13), "1m")
    assert kraken.cannot_serve(now - timedelta(hours=11), "1m") is None
    assert CcxtCandleSource("binance").cannot_serve(START, "1m") is None


def test_point_at_emulator_keeps_paths_of_nested_url_tables():
    urls = {"public": "https://api.binance.com/api/v3", "nested": {"x": "https://{hostname}/api/v5"}, "n": 3}
    assert point_at_emulator(urls, base_url="http://127.0.0.1:9/", venue="okx") == {
        "public": "http://127.0.0.1:9/okx/api/v3", "nested": {"x": "http://127.0.0.1:9/okx/api/v5"}, "n": 3}


def test_the_budget_pause_reads_the_venues_own_count():
    from datafactory_assets.sources.ccxt_source import budget_pause_s

    header = "X-MBX-USED-WEIGHT-1M"
    assert budget_pause_s({header: "5399"}, header=header, limit=5400, now=1000.0) == 0.0
    assert budget_pause_s({header: "5400"}, header=header, limit=5400, now=1000.0) == 20.0  # to 1020 = next minute
    assert budget_pause_s({}, header=header, limit=5400, now=1000.0) == 0.0
    assert budget_pause_s({header: "n/a"}, header=header, limit=5400, now=1000.0) == 0.0
    assert budget_pause_s({header: "9999"}, header=None, limit=1, now=1000.0) == 0.0


def test_binance_saying_its_minute_is_spent_makes_the_source_pause(emulator, monkeypatch):
    import time
    from types import SimpleNamespace

    from datafactory_assets.sources import ccxt_source

    pauses = []
    # record our source's waits instead of sleeping them, and only its: ccxt's own throttle sleeps 50 ms between
    # requests that come close together, which depends on timing
    monkeypatch.setattr(ccxt_source, "time", SimpleNamespace(time=time.time, sleep=pauses.append))
    tight = CcxtCandleSource("binance", emulator_url=emulator.url, budget_limit=4)
    tight.fetch_range("BTC/USDT", start=START, end=START + timedelta(hours=1), timeframe="1m")
    assert len(pauses) == 1 and 0 < pauses[0] <= 60  # exchangeInfo (20) + klines (2) is over 4 this minute
    roomy = CcxtCandleSource("binance", emulator_url=emulator.url)
    pauses.clear()
    roomy.fetch_range("BTC/USDT", start=START, end=START + timedelta(hours=1), timeframe="1m")
    assert pauses == []


class _ClockAhead(datetime):
    """`datetime` whose `now` runs a minute ahead: our clock ahead of the venue's, by more than any real skew so that
    the open candle is inside the window whatever second the test runs at."""

    @classmethod
    def now(cls, tz=None):
        return datetime.now(tz) + timedelta(minutes=1)


def test_kraken_never_returns_its_still_open_candle_even_when_our_clock_runs_ahead(emulator, monkeypatch):
    from datafactory_assets.sources import ccxt_source

    kraken = CcxtCandleSource("kraken", emulator_url=emulator.url)
    monkeypatch.setattr(ccxt_source, "datetime", _ClockAhead)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    result = kraken.fetch_range("BTC/USDT", start=start, end=start + timedelta(hours=1), timeframe="1m")
    venue_open = datetime.now(UTC).replace(second=0, microsecond=0).replace(tzinfo=None)
    assert result.frame["ts"].max() < venue_open  # Kraken's last row, the still-open candle, is never kept
    want = synthetic_candles("BTC/USDT", ms(start), int(result.frame["ts"].max().timestamp() * 1000) + 60_000)
    assert result.frame["close"].to_list() == want["close"].to_list()


def test_okx_pages_its_history_300_candles_a_request(emulator):
    okx = CcxtCandleSource("okx", emulator_url=emulator.url)
    result = okx.fetch_range("BTC/USDT", start=START, end=START + timedelta(minutes=900), timeframe="1m")
    assert [r.rows for r in result.requests] == [300, 300, 300]
    pages = [r for r in emulator.request_log() if r["path"] == "/api/v5/market/history-candles"]
    assert [r["query"]["limit"] for r in pages] == ["300"] * 3
    want = synthetic_candles("BTC/USDT", ms(START), ms(START + timedelta(minutes=900)))
    assert result.frame["close"].to_list() == want["close"].to_list()


@pytest.mark.parametrize("venue", ["binance", "bybit"])
def test_a_403_is_a_ban_told_in_one_line_whatever_the_body(emulator, venue):
    source = CcxtCandleSource(venue, emulator_url=emulator.url)
    source.exchange.load_markets()
    emulator.add_fault(f"{venue}:status:403@1")
    with pytest.raises(SourceError) as caught:
        source.fetch_range("BTC/USDT", start=START, end=START + timedelta(hours=1), timeframe="1m")
    message = str(caught.value)
    assert caught.value.kind is ErrorKind.BANNED
    assert "\n" not in message and f"{venue} BTC/USDT: HTTP 403: " in message and len(message) < 300, message
    said = ("firewall (WAF)", "<html>") if venue == "binance" else ("bans our IP", "access too frequent")
    assert all(words in message for words in said)
    assert caught.value.retry_after_s == (600.0 if venue == "bybit" else None)  # Bybit: "at least 10 minutes"


def _spot_candles_with(venue: str, **changes):
    """Spot candles with `venue`'s endpoint changed: what another dataset would declare for it."""
    endpoint = replace(SPOT_CANDLES.endpoint(venue), **changes)
    return replace(SPOT_CANDLES, name="other", venues={**SPOT_CANDLES.venues, venue: endpoint})


def test_the_dataset_says_how_many_rows_a_request_asks_for(binance, emulator):
    result = binance.fetch_range("BTC/USDT", start=START, end=START + timedelta(hours=1), timeframe="1m",
                                 dataset=_spot_candles_with("binance", limit=25))
    assert [r.rows for r in result.requests] == [25, 25, 12]  # one candle more on each side, 25 per request
    assert [r["query"]["limit"] for r in emulator.request_log() if "klines" in r["path"]] == ["25", "25", "12"]
    want = synthetic_candles("BTC/USDT", ms(START), ms(START + timedelta(hours=1)))
    assert result.frame["close"].to_list() == want["close"].to_list()


def test_the_dataset_builds_the_frame_from_the_rows_ccxt_returns(binance):
    def tagged(rows, *, symbol, source):
        return candles_from_rows(rows, symbol=symbol, source=f"{source}:tagged")

    result = binance.fetch_range("BTC/USDT", start=START, end=START + timedelta(minutes=10), timeframe="1m",
                                 dataset=replace(SPOT_CANDLES, from_rows=tagged))
    assert result.frame.height == 10 and set(result.frame["source"]) == {"binance:tagged"}


def test_a_dataset_kept_for_a_time_is_not_asked_before_it_and_one_not_served_is_named():
    binance = CcxtCandleSource("binance")
    month = _spot_candles_with("binance", depth=timedelta(days=30))
    now = datetime.now(UTC)
    assert binance.cannot_serve(now - timedelta(days=31), "1m", dataset=month) == (
        "binance keeps other only for the last 30 days; the window starts before them")
    assert binance.cannot_serve(now - timedelta(days=29), "1m", dataset=month) is None
    okx_only = replace(month, venues={"okx": month.endpoint("okx")})
    assert binance.cannot_serve(now, "1m", dataset=okx_only) == "binance does not serve the dataset other"


@pytest.mark.parametrize(("venue", "pages"), [("binance", [290]), ("okx", [100, 100, 90]), ("bybit", [200, 90])])
def test_open_interest_structures_are_paged_forward_by_their_timestamp_at_each_venues_limit(emulator, venue, pages):
    """A day of 5m open interest, three days back: ccxt returns structures, not rows, and the source pages on
    their `timestamp` up to each venue's declared limit (288 rows and one on each side as evidence); every venue's
    amounts are the emulator's one series."""
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
    source = CcxtCandleSource(venue, market="swap", emulator_url=emulator.url)
    result = source.fetch_range("BTC/USDT:USDT", start=day, end=day + timedelta(days=1), timeframe="5m",
                                dataset=OPEN_INTEREST)
    assert [r.rows for r in result.requests] == pages
    want = perp_series.open_interest("BTC/USDT:USDT", ms(day), ms(day + timedelta(days=1)))
    assert result.frame["open_interest"].to_list() == want["amount"].to_list()
    assert result.frame["ts"].dt.epoch("ms").to_list() == want["open_ms"].to_list()
    assert "latest 1440 open_interest rows" in CcxtCandleSource("okx", market="swap").cannot_serve(
        datetime.now(UTC) - timedelta(days=6), "5m", dataset=OPEN_INTEREST)


def test_a_pair_binance_lists_as_no_longer_trading_is_dated_by_its_last_candle():
    """One request for the delisted pair (its newest kline), none for a trading one: the market list is loaded."""
    from datafactory_assets.emulator.server import Emulator

    with Emulator(symbols=["BTC/USDT", "MATIC/USDT"]) as emu:
        source = CcxtCandleSource("binance", emulator_url=emu.url)
        assert source.delisted_at("BTC/USDT", timeframe="1m") is None
        emu.clear_request_log()
        assert source.delisted_at("MATIC/USDT", timeframe="1m") == datetime(2024, 9, 10, 3)
        assert [r["path"] for r in emu.request_log()] == ["/api/v3/klines"]
