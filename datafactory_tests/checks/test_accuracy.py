"""Cross-source accuracy through the real clients against the emulator: venues whose prices are off by a known number
of basis points (the emulator's price offsets), CoinGecko and a venue as references, and a real materialization."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl
import pytest

from click.testing import CliRunner

from datafactory_assets.assets import build_candle_asset, candle_assets
from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.checks.accuracy import ReferenceTurn, check_accuracy, deviations, sample_per_hour
from datafactory_assets.cli import main
from datafactory_assets.settings import AccuracySettings, load_settings
from datafactory_assets.sources.base import SourceError
from datafactory_assets.sources.coingecko_source import COIN_IDS
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.universe import CoinIds, cached_coin_ids
from datafactory_assets.warehouse import queries
from datafactory_tests.helpers import symbol_settings, universe_config

# Recent enough for CoinGecko's free plan, which prices it every 5 minutes (12 points inside the hour)
RECENT = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
OLD = datetime(2024, 3, 1, 10, tzinfo=UTC)  # beyond the free plan's 365 days
STRICT = AccuracySettings(reference="coingecko", tolerance_bps=50, sample_size=12)


def btc(*sources: str):
    return replace(symbol_settings("BTC/USDT"), sources=sources)


def ingest_and_check(symbol, *, sources, warehouse, settings=STRICT, start=RECENT, hours=1):
    end = start + timedelta(hours=hours)
    ingest_window(symbol, start=start, end=end, sources=sources, warehouse=warehouse)
    with warehouse.connect() as conn:
        stored = queries.window_candles(conn, symbol.symbol, start, end)
    return check_accuracy(stored, symbol, start=start, end=end, settings=settings, sources=sources)


def meta(result) -> dict:
    return {key: getattr(value, "value", value) for key, value in result.metadata.items()}


def candles(minutes: list[int], closes: list[float]) -> pl.DataFrame:
    """1-minute candles opening at 2025-01-01 00:MM, each opening one below its close."""
    return pl.DataFrame({"ts": [datetime(2025, 1, 1) + timedelta(minutes=m) for m in minutes],
                         "open": [c - 1 for c in closes], "close": closes})


def test_each_reference_point_meets_the_candle_spanning_its_instant_read_at_that_instant():
    stored = candles([0, 1, 2, 4], [100.0, 101.0, 102.0, 104.0])
    points = pl.DataFrame({"ts": [datetime(2025, 1, 1, 0, m, s) for m, s in [(0, 0), (0, 45), (1, 0), (2, 30),
                                                                            (3, 30), (4, 0), (5, 0)]],
                           "price": [99.0, 99.75, 100.0, 101.5, 110.0, 200.0, 104.0]})
    compared = deviations(stored, points, timeframe_ms=60_000)
    # 00:00 closes nothing stored; 00:00:45 is three quarters into the 00:00 candle (99 -> 100); 00:01 is its
    # close; 00:02:30 is half way through the 00:02 candle (101 -> 102); 00:03:30 and 00:04 lie in the missing
    # 00:03 candle; 00:05 is the 00:04 candle's close
    assert compared.rows() == [
        (datetime(2025, 1, 1, 0, 0), 99.75, 99.75, 0.0),
        (datetime(2025, 1, 1, 0, 0), 100.0, 100.0, 0.0),
        (datetime(2025, 1, 1, 0, 2), 101.5, 101.5, 0.0),
        (datetime(2025, 1, 1, 0, 4), 104.0, 104.0, 0.0),
    ]
    assert compared.columns == ["ts", "stored", "reference", "deviation_bps"]
    off = deviations(stored, points.with_columns(price=pl.col("price") * 1.01), timeframe_ms=60_000)
    assert off["deviation_bps"].to_list() == pytest.approx([(1 / 1.01 - 1) * 10_000] * 4)


def test_the_sample_spreads_evenly_over_each_hour_and_keeps_short_hours_whole():
    minutes = [*range(60), 60, 61, 62]  # a full hour, then three minutes of the next
    frame = candles(minutes, [1.0] * len(minutes)).with_columns(deviation_bps=pl.lit(0.0))
    sampled = sample_per_hour(frame, 4)
    assert [t.minute for t in sampled["ts"]] == [0, 15, 30, 45, 0, 1, 2]
    assert sample_per_hour(frame, 100).height == frame.height


def test_a_venue_agreeing_with_the_reference_passes(sources, warehouse, emulator):
    result = ingest_and_check(btc("binance"), sources=sources, warehouse=warehouse)
    info = meta(result)
    assert result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert (info["reference"], info["sample_size"], info["max_deviation_bps"], info["reference_requests"]) == (
        "coingecko", 12, 0.0, 1)
    gecko = [r for r in emulator.request_log() if r["venue"] == "coingecko"]
    assert len(gecko) == 1 and gecko[0]["path"] == "/api/v3/coins/bitcoin/market_chart/range"


def test_coingeckos_hourly_points_past_the_hour_meet_the_price_inside_their_candle(sources, warehouse, emulator):
    """Five days back CoinGecko answers hourly, each point 40 to 48 s past the hour: held against the candle spanning
    it, a venue that agrees exactly shows no deviation at all (the close 12 to 20 s later would)."""
    exact = AccuracySettings(reference="coingecko", tolerance_bps=0.01, sample_size=12)
    start = RECENT - timedelta(days=5)
    result = ingest_and_check(btc("binance"), sources=sources, warehouse=warehouse, settings=exact, start=start,
                              hours=3)
    info = meta(result)
    assert result.passed, result.description
    assert (info["sample_size"], info["max_deviation_bps"]) == (3, 0.0)  # one point an hour


def test_a_venue_off_beyond_the_tolerance_fails_with_its_offset_as_the_deviation(sources, warehouse, emulator):
    emulator.set_price_offset("okx", 150)
    result = ingest_and_check(btc("okx"), sources=sources, warehouse=warehouse)
    info = meta(result)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert info["max_deviation_bps"] == pytest.approx(150, abs=0.01)  # the 2-decimal tick: < 0.002 bps
    assert info["median_deviation_bps"] == pytest.approx(150, abs=0.01)
    assert (info["sample_size"], info["beyond_tolerance"]) == (12, 12)
    assert info["worst_minute"].startswith(f"{RECENT:%Y-%m-%d %H}:")
    assert "12 of 12 sampled closes differ from coingecko by more than 50 bps" in result.description


def test_a_venue_off_within_the_tolerance_passes_and_reports_its_offset(sources, warehouse, emulator):
    emulator.set_price_offset("okx", 30)
    info = meta(result := ingest_and_check(btc("okx"), sources=sources, warehouse=warehouse))
    assert result.passed and info["max_deviation_bps"] == pytest.approx(30, abs=0.01)
    assert info["worst_deviation_bps"] == pytest.approx(30, abs=0.01)


def test_a_venue_reference_judges_the_serving_venue_on_a_sample_per_partition(sources, warehouse, emulator):
    emulator.set_price_offset("okx", 150)  # this time the reference is off: stored/reference - 1 = 1/1.015 - 1
    settings = AccuracySettings(reference="okx", tolerance_bps=50, sample_size=5)
    result = ingest_and_check(btc("binance"), sources=sources, warehouse=warehouse, settings=settings, hours=2)
    info = meta(result)
    assert not result.passed and info["reference"] == "okx"
    assert info["worst_deviation_bps"] == pytest.approx((1 / 1.015 - 1) * 10_000, abs=0.01)
    assert info["sample_size"] == 10  # 5 of each hour's 60 closes
    okx_candle_requests = [r for r in emulator.request_log() if r["venue"] == "okx" and "candles" in r["path"]]
    assert len(okx_candle_requests) == info["reference_requests"] == 1  # 300 per request: both hours at once


def test_candles_are_never_compared_with_the_source_that_served_them(sources, warehouse):
    result = ingest_and_check(btc("okx"), sources=sources, warehouse=warehouse,
                              settings=AccuracySettings(reference="okx"))
    assert result.passed and meta(result)["sample_size"] == 0 and "nothing to compare" in result.description


def test_a_passing_coingecko_error_is_retried_like_a_venues(sources, warehouse, emulator):
    emulator.add_fault("coingecko:status:503@1")
    result = ingest_and_check(btc("binance"), sources=sources, warehouse=warehouse)
    assert result.passed and meta(result)["reference_requests"] == 2
    assert [r["fault"] for r in emulator.request_log() if r["venue"] == "coingecko"] == ["coingecko:status:503@1", None]


@pytest.mark.parametrize(("start", "fault", "reason"), [
    (RECENT, "coingecko:status:503", "HTTP 503"),
    (OLD, None, "past 365 days"),
])
def test_an_unavailable_reference_warns_that_the_window_went_unverified(sources, warehouse, emulator, start, fault,
                                                                       reason):
    if fault:
        emulator.add_fault(fault)
    result = ingest_and_check(btc("binance"), sources=sources, warehouse=warehouse, start=start)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert reason in meta(result)["unverified"] and result.description.startswith("not verified against coingecko")


def materialize_accuracy(asset, *, sources, warehouse) -> tuple[dg.ExecuteInProcessResult, dg.AssetCheckEvaluation]:
    result = dg.materialize([asset], partition_key=f"{RECENT:%Y-%m-%d-%H:%M}", instance=dg.DagsterInstance.ephemeral(),
                            resources={"warehouse": warehouse, "sources": sources})
    (evaluation,) = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
                     and e.event_specific_data.check_name == "accuracy"]
    return result, evaluation


def test_a_materialization_reports_the_failed_check_and_keeps_the_candles(sources, warehouse, emulator):
    emulator.set_price_offset("okx", 150)
    asset = build_candle_asset(btc("okx"), partitions_per_run=720, accuracy=STRICT)
    result, evaluation = materialize_accuracy(asset, sources=sources, warehouse=warehouse)
    assert result.success  # not blocking: the run succeeds and the stored candles stay
    info = {k: v.value for k, v in evaluation.metadata.items()}
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert info["max_deviation_bps"] == pytest.approx(150, abs=0.01) and info["sample_size"] == 12
    assert info["reference"] == "coingecko" and info["tolerance_bps"] == 50
    with warehouse.connect() as conn:
        assert conn.sql("SELECT count(*), min(source) FROM candles").fetchall() == [(60, "okx")]


def test_a_materialization_with_the_reference_down_succeeds_and_warns(sources, warehouse, emulator):
    emulator.add_fault("coingecko:status:503")
    asset = build_candle_asset(btc("binance"), partitions_per_run=720, accuracy=STRICT)
    result, evaluation = materialize_accuracy(asset, sources=sources, warehouse=warehouse)
    assert result.success and not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert "HTTP 503" in evaluation.metadata["unverified"].value
    with warehouse.connect() as conn:
        assert conn.sql("SELECT count(*) FROM candles").fetchall() == [(60,)]


@pytest.fixture(scope="module")
def universe_ids(tmp_path_factory, emulator_session) -> tuple[list[str], CoinIds]:
    """A 200-pair universe resolved by `datafactory universe --refresh` against the emulator: its symbols and the
    CoinGecko ids cached with them."""
    config = tmp_path_factory.mktemp("universe") / "datafactory.toml"
    config.write_text(universe_config(start="2025-06-01", top=200))
    refreshed = CliRunner().invoke(main, ["universe", "--refresh"], env={
        "DATAFACTORY_CONFIG": str(config), "DATAFACTORY_EMULATOR_URL": emulator_session.url})
    assert refreshed.exit_code == 0, refreshed.output
    settings = load_settings(config, env={})
    return [s.symbol for s in settings.symbols], cached_coin_ids(settings.universe)


def test_a_200_pair_universe_knows_the_coingecko_coin_of_all_but_the_ambiguous_and_unlisted(universe_ids):
    symbols, coins = universe_ids
    reference = SourcesResource(coingecko_ids=coins.ids).reference()
    without = []
    for symbol in symbols:
        try:
            reference.coin_id(symbol)
        except SourceError as exc:
            without.append(str(exc))
    # the 7 hand-mapped coins alone left 193 of 200 unverified
    assert len(without) == len(coins.unresolved) == 20 and len(coins.ids) == 180
    assert "no CoinGecko id for EPIC/USDT (`datafactory universe --refresh` resolves" in "\n".join(without)


def test_a_coin_outside_the_hand_mapped_seven_is_verified_and_an_ambiguous_one_says_why_not(universe_ids, warehouse,
                                                                                           emulator):
    symbols, coins = universe_ids
    sources = SourcesResource(emulator_url=emulator.url, coingecko_ids=coins.ids)
    verified = next(s for s in symbols if s.split("/")[0] in coins.ids and s.split("/")[0] not in COIN_IDS)
    for symbol, passed in ((verified, True), ("EPIC/USDT", False)):
        asset = build_candle_asset(replace(symbol_settings(symbol), sources=("binance",)), partitions_per_run=720,
                                   accuracy=STRICT)
        result, evaluation = materialize_accuracy(asset, sources=sources, warehouse=warehouse)
        info = {k: v.value for k, v in evaluation.metadata.items()}
        assert result.success and evaluation.passed is passed, (symbol, info)
        if passed:
            assert info["sample_size"] == 12 and info["max_deviation_bps"] < 1
        else:
            assert evaluation.severity == dg.AssetCheckSeverity.WARN
            assert info["unverified"].startswith("no CoinGecko id for EPIC/USDT")


def test_symbols_take_turns_at_most_the_configured_many_an_hour_each_every_round():
    symbols = [f"C{i}/USDT" for i in range(200)]
    turns = ReferenceTurn.every(symbols, per_hour=30)
    hours = [datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(14)]
    due = [[s for s, t in turns.items() if t.due(h, h + timedelta(hours=1))] for h in hours]
    assert {len(d) for d in due} == {30, 20}  # 7 rounds: six of 30 symbols, one of 20
    assert all(sum(s in d for d in due) == 2 for s in symbols)  # each symbol twice in 14 hours
    day = (hours[0], hours[0] + timedelta(days=1))
    assert all(t.due(*day) for t in turns.values())  # a run longer than a round always asks
    assert ReferenceTurn().due(hours[0], hours[1])  # alone, or 30 at most: every hour


def test_an_hourly_run_of_many_symbols_asks_the_reference_for_those_whose_turn_it_is(sources, warehouse, emulator,
                                                                                        tmp_path):
    config = tmp_path / "datafactory.toml"
    config.write_text(f'[defaults]\nstart = "{RECENT - timedelta(days=1):%Y-%m-%d}"\nsources = ["binance"]\n'
                      '[accuracy]\nchecks_per_hour = 1\n'
                      '[symbols]\n"BTC/USDT" = {}\n"ETH/USDT" = {}\n"SOL/USDT" = {}\n')
    assets = candle_assets(load_settings(config, env={}))
    result = dg.materialize(assets, partition_key=f"{RECENT:%Y-%m-%d-%H:%M}", instance=dg.DagsterInstance.ephemeral(),
                            resources={"warehouse": warehouse, "sources": sources})
    assert result.success
    verdicts = {e.event_specific_data.asset_key.path[-1]: e.event_specific_data for e in result.all_events
                if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == "accuracy"}
    compared = {name for name, v in verdicts.items() if v.passed}
    (due,) = [s for s in ("BTC/USDT", "ETH/USDT", "SOL/USDT")  # sorted: three rounds of one, by the hour's number
              if ReferenceTurn.every(["BTC/USDT", "ETH/USDT", "SOL/USDT"], per_hour=1)[s].due(
                  RECENT, RECENT + timedelta(hours=1))]
    assert compared == {due.replace("/", "_").lower()} and len(verdicts) == 3
    for name in verdicts.keys() - compared:  # the others say they were not compared, and when they will be
        assert verdicts[name].severity == dg.AssetCheckSeverity.WARN
        assert "turn: 1 symbol(s) an hour are compared" in verdicts[name].metadata["unverified"].value
        assert "each every 3 hours; its next is" in verdicts[name].metadata["unverified"].value
    assert len([r for r in emulator.request_log() if r["venue"] == "coingecko"]) == 1
