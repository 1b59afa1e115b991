"""The failover chain through the real clients against the emulator, with faults injected per venue."""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.emulator.candles import synthetic_candles
from datafactory_assets.resilience import breaker_states
from datafactory_assets.resilience.chain import ChainExhaustedError, PairNotListedError
from datafactory_assets.settings import SymbolSettings
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse import queries
from datafactory_tests.helpers import ms

START = datetime(2024, 3, 1, tzinfo=UTC)
CHAIN = ("binance", "okx", "bybit")


def btc(sources=CHAIN) -> SymbolSettings:
    return SymbolSettings(symbol="BTC/USDT", timeframe="1m", start=START, sources=tuple(sources))


@pytest.fixture
def sources(emulator, tmp_path) -> SourcesResource:
    return SourcesResource(emulator_url=emulator.url, state_path=str(tmp_path / "state.sqlite"), breaker_fail_max=2,
                           breaker_reset_s=300, retry_attempts=2, retry_backoff_s=0.01, retry_max_backoff_s=0.05)


def klines_requests(emulator, venue: str) -> int:
    return sum(1 for r in emulator.request_log() if r["venue"] == venue and r["fault"] != "-" and
               any(p in r["path"] for p in ("klines", "candles", "kline")))


def test_binance_down_for_a_whole_backfill_the_next_venue_serves_and_the_breaker_stops_asking(
        emulator, sources, warehouse):
    emulator.add_fault("binance:status:503")
    served, binance_calls = [], []
    for day in range(4):  # four separate backfill runs, one day each
        start = START + timedelta(days=day)
        report = ingest_window(btc(), start=start, end=start + timedelta(days=1), sources=sources,
                               warehouse=warehouse)
        served.append(report.source)
        binance_calls.append(klines_requests(emulator, "binance"))
        assert report.rows == 1440
        assert report.failures[0].source == "binance"
    assert served == ["okx"] * 4
    # two failed calls (each with its retry) open the breaker; later runs skip binance without a request
    assert binance_calls[1] == binance_calls[2] == binance_calls[3] == 4
    state = breaker_states(sources.state_path).filter(pl.col("source") == "binance").row(0, named=True)
    assert state["breaker"] == "open" and "HTTP 503" in state["last_failure"]
    with warehouse.connect(read_only=True) as conn:
        stored = queries.window_candles(conn, "BTC/USDT", START, START + timedelta(days=4))
    assert set(stored["source"]) == {"okx"}
    want = synthetic_candles("BTC/USDT", ms(START), ms(START + timedelta(days=4)))
    assert stored["close"].to_list() == want["close"].to_list()


def test_a_geo_block_bans_the_venue_at_once_and_the_chain_moves_on(emulator, sources, warehouse):
    emulator.add_fault("binance:status:451")
    first = ingest_window(btc(), start=START, end=START + timedelta(hours=1), sources=sources, warehouse=warehouse)
    second = ingest_window(btc(), start=START + timedelta(hours=1), end=START + timedelta(hours=2),
                           sources=sources, warehouse=warehouse)
    assert (first.source, second.source) == ("okx", "okx")
    assert klines_requests(emulator, "binance") == 1  # a ban is not retried, and it outlives the first run
    assert first.failures[0].kind == "banned"
    assert second.failures[0].kind == "skipped" and "breaker open until" in second.failures[0].reason
    assert breaker_states(sources.state_path).filter(pl.col("source") == "binance")["blocked_for_s"][0] > 500


def test_every_venue_failing_fails_loudly_and_changes_nothing(emulator, sources, warehouse):
    ingest_window(btc(), start=START, end=START + timedelta(hours=1), sources=sources, warehouse=warehouse)
    for venue in CHAIN:
        emulator.add_fault(f"{venue}:status:502")
    with pytest.raises(ChainExhaustedError) as caught:
        ingest_window(btc(), start=START, end=START + timedelta(hours=1), sources=sources, warehouse=warehouse)
    assert [f.source for f in caught.value.failures] == list(CHAIN)
    assert all("HTTP 502" in f.reason for f in caught.value.failures)
    with warehouse.connect(read_only=True) as conn:
        assert set(queries.window_candles(conn, "BTC/USDT", START, START + timedelta(hours=1))["source"]) == {
            "binance"}
        assert conn.sql("SELECT count(*) FROM ingest_log WHERE outcome = 'error'").fetchall()[0][0] == 6


def test_a_venue_that_does_not_list_the_pair_is_passed_over_without_counting_against_it(emulator, sources,
                                                                                        warehouse):
    alt = SymbolSettings(symbol="ETH/BTC", timeframe="1m", start=START, sources=("kraken", "binance"))
    report = ingest_window(alt, start=START, end=START + timedelta(hours=1), sources=sources, warehouse=warehouse)
    assert report.source == "binance"
    assert report.passed_over[0].source == "kraken" and "719 candles" in report.passed_over[0].reason
    unknown = SymbolSettings(symbol="NOPE/USDT", timeframe="1m", start=START, sources=("okx", "binance"))
    with pytest.raises(PairNotListedError) as caught:  # old: a transient ChainExhaustedError, retried for ever
        ingest_window(unknown, start=START, end=START + timedelta(hours=1), sources=sources, warehouse=warehouse)
    assert [f.kind for f in caught.value.failures] == ["not listed", "not listed"]
    assert str(caught.value).startswith("NOPE/USDT is not listed by any source of its chain that was asked: okx ")
    assert set(breaker_states(sources.state_path)["failures"]) == {0}


@pytest.mark.parametrize(
    ("fault", "served_by", "binance_requests", "why"),
    [
        ("status:429:0@1", "binance", 2, "throttled: waits Retry-After, the retry succeeds"),
        ("status:500@1", "binance", 2, "transient: backs off, the retry succeeds"),
        ("timeout:0.3@1", "binance", 2, "a held request the venue drops is transient: retried"),
        ("reset@1", "binance", 2, "a reset connection is transient: retried"),
        ("garbage@1", "binance", 2, "a garbled body gets one more try"),
        ("duplicates", "okx", 2, "a page longer than asked for (repeats) is broken: the next venue serves"),
        ("shuffle", "binance", 1, "out-of-order candles are stored in order"),
        ("status:503", "okx", 2, "a venue down after its retries: the next venue serves"),
        ("status:418", "okx", 1, "a ban: no retry, the next venue serves"),
        ("garbage", "okx", 2, "a venue that keeps sending garbage is failed over"),
        ("empty", "okx", 1, "no candles where the next venue has them: it serves"),
        ("spike", "okx", 1, "an absurd price fails validation: the next venue serves"),
        ("holes:0.2", "binance", 1, "a venue's holes are filled from the next venue"),
    ],
)
def test_each_fault_kind_ends_with_every_candle_exactly_once(emulator, sources, warehouse, fault, served_by,
                                                              binance_requests, why):
    emulator.add_fault(f"binance:{fault}")
    chain = ("binance", "okx")
    report = ingest_window(btc(chain), start=START, end=START + timedelta(hours=12), sources=sources,
                           warehouse=warehouse)
    assert report.source == served_by, why
    assert klines_requests(emulator, "binance") >= binance_requests, why
    with warehouse.connect(read_only=True) as conn:
        stored = queries.window_candles(conn, "BTC/USDT", START, START + timedelta(hours=12))
        duplicates = conn.sql("SELECT count(*) - count(DISTINCT (symbol, ts)) FROM candles").fetchall()[0][0]
    want = synthetic_candles("BTC/USDT", ms(START), ms(START + timedelta(hours=12)))
    assert duplicates == 0
    assert stored["ts"].dt.epoch("ms").to_list() == want["open_ms"].to_list(), why
    assert stored["close"].to_list() == want["close"].to_list(), why
    if fault.startswith("holes"):
        assert report.filled["okx"] > 0 and set(stored["source"]) == {"binance", "okx"}


def test_yahoo_serves_when_every_exchange_is_down_and_says_it_prices_in_usd(emulator, sources, warehouse):
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    for venue in ("binance", "okx"):
        emulator.add_fault(f"{venue}:status:503")
    report = ingest_window(btc(("binance", "okx", "yahoo")), start=start, end=start + timedelta(hours=6),
                           sources=sources, warehouse=warehouse)
    assert report.source == "yahoo" and report.rows == 360
    assert report.quote_notes == ["yahoo serves BTC-USD (USD) for BTC/USDT (USDT)"]
    want = synthetic_candles("BTC/USDT", ms(start), ms(start + timedelta(hours=6)))
    with warehouse.connect(read_only=True) as conn:
        stored = queries.window_candles(conn, "BTC/USDT", start, start + timedelta(hours=6))
    assert stored["close"].to_list() == want["close"].to_list() and set(stored["source"]) == {"yahoo"}


def test_yahoo_is_skipped_without_a_request_for_1m_windows_older_than_30_days(emulator, sources, warehouse):
    emulator.add_fault("binance:status:503")
    with pytest.raises(ChainExhaustedError) as caught:
        ingest_window(btc(("binance", "yahoo")), start=START, end=START + timedelta(hours=1), sources=sources,
                      warehouse=warehouse)
    assert caught.value.failures[1].kind == "passed over" and "30 days" in caught.value.failures[1].reason
    assert not [r for r in emulator.request_log() if r["venue"] == "yahoo"]


class _Canned:
    """A candle source at the boundary that answers fixed rows: the chain under test is real."""

    publishes_later, lists_pairs = False, True

    def __init__(self, name: str, rows: list[list]):
        self.name, self.rows = name, rows

    def cannot_serve(self, start, timeframe, *, dataset=None):
        return None

    def quote_note(self, symbol):
        return None

    def fetch_range(self, symbol, *, start, end, timeframe, guard=None, dataset=None):
        from datafactory_assets.frames import candles_from_rows
        from datafactory_assets.sources.base import FetchResult

        return FetchResult(frame=candles_from_rows(self.rows, symbol=symbol, source=self.name))


def test_filled_candles_that_disagree_with_the_served_ones_are_dropped(tmp_path):
    from datafactory_assets.checks import validate_candles
    from datafactory_assets.resilience.chain import ChainMember, FailoverChain

    base = ms(START)
    primary = [[base + m * 60_000, 10.0, 11.0, 9.0, 10.5, 1.0] for m in range(60) if m != 30]
    filler = [[base + m * 60_000, 1000.0, 1100.0, 900.0, 1050.0, 1.0] for m in range(60)]  # 100x the primary
    sources = SourcesResource()
    chain = FailoverChain([ChainMember(_Canned("a", primary), sources.guard("binance")),
                           ChainMember(_Canned("b", filler), sources.guard("okx"))],
                          validate=lambda f: validate_candles(f, start=START, end=START + timedelta(hours=1),
                                                              timeframe_ms=60_000))
    result = chain.fetch("BTC/USDT", start=START, end=START + timedelta(hours=1), timeframe="1m", expected_rows=60)
    assert result.frame.height == 59 and set(result.frame["source"]) == {"a"} and result.filled == {}
    assert "filled candles disagree with a's" in result.failures[-1].reason


def test_a_binance_firewall_block_is_a_ban_so_what_okx_lacks_stays_an_unconfirmed_gap(emulator, sources, warehouse):
    """Binance's WAF 403 says nothing about which candles exist: the holes of the venue behind it stay open."""
    emulator.add_fault("binance:status:403")
    emulator.add_fault("okx:holes:0.2")
    report = ingest_window(btc(("binance", "okx")), start=START, end=START + timedelta(hours=1), sources=sources,
                           warehouse=warehouse)
    assert report.source == "okx" and 0 < report.rows < 60
    assert report.failures[0].kind == "banned" and "firewall (WAF)" in report.failures[0].reason
    assert report.confirmed_empty == 0  # old: a "permanent" 403 counted Binance as asked, and the holes confirmed


def test_a_member_that_does_not_serve_the_dataset_is_passed_over_and_the_next_serves(emulator, sources):
    from dataclasses import replace

    from datafactory_assets.checks import validate_candles
    from datafactory_assets.datasets import SPOT_CANDLES

    okx_only = replace(SPOT_CANDLES, name="okx_only", venues={"okx": SPOT_CANDLES.endpoint("okx")})
    end = START + timedelta(hours=1)
    chain = sources.chain(["binance", "okx"], dataset=okx_only,
                          validate=lambda f: validate_candles(f, start=START, end=end, timeframe_ms=60_000))
    result = chain.fetch("BTC/USDT", start=START, end=end, timeframe="1m", expected_rows=60)
    assert result.source == "okx" and result.frame.height == 60 and result.failures == []
    assert [(p.source, p.reason) for p in result.passed_over] == [
        ("binance", "binance does not serve the dataset okx_only")]
    assert klines_requests(emulator, "binance") == 0


def test_mark_candles_of_a_perpetual_are_a_declaration_the_chain_reads(emulator, sources):
    """A test-only dataset: spot candles' frame and rules, Binance's USDⓈ-M market, ccxt's `price` parameter. The
    chain reaches binanceusdm and stores exactly the mark-price series the emulator serves."""
    from dataclasses import replace

    from datafactory_assets.checks import validate_candles
    from datafactory_assets.datasets import SPOT_CANDLES, VenueEndpoint
    from datafactory_assets.emulator import perp_series

    mark = replace(SPOT_CANDLES, name="mark_probe", market="swap",
                   venues={"binance": VenueEndpoint(call="fetch_ohlcv", limit=1000, params={"price": "mark"})})
    start, end = datetime(2025, 6, 2, tzinfo=UTC), datetime(2025, 6, 2, 2, tzinfo=UTC)
    chain = sources.chain(["binance"], dataset=mark,
                          validate=lambda f: validate_candles(f, start=start, end=end, timeframe_ms=60_000))
    result = chain.fetch("BTC/USDT:USDT", start=start, end=end, timeframe="1m", expected_rows=120)
    want = perp_series.perp_candles("BTC/USDT:USDT", "mark", ms(start), ms(end), 60_000)
    assert result.frame.height == want.height == 120 and result.source == "binance"
    assert result.frame["ts"].dt.epoch("ms").to_list() == want["open_ms"].to_list()
    assert result.frame["close"].to_list() == want["close"].to_list()
    assert {r["path"] for r in emulator.request_log() if r["venue"] == "binanceusdm"} >= {"/fapi/v1/markPriceKlines"}
