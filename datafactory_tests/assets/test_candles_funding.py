"""`funding_rates/<base>_<quote>` assets (the dataset asset factory of `assets/candles.py`) materialized through
Dagster with the real ccxt clients against the exchange emulator: what they store, the interval change, a lost
event and failover."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import dagster as dg
import numpy as np

from datafactory_assets.assets import build_candle_asset
from datafactory_assets.datasets import DATASETS
from datafactory_assets.emulator.candles import unit_hash
from datafactory_assets.emulator.perp_series import INTERVAL_CHANGE, funding_events
from datafactory_assets.warehouse import queries
from datafactory_tests.assets.test_candles import check_results, materialize
from datafactory_tests.emulator.helpers import ccxt_client
from datafactory_tests.helpers import ms, symbol_settings

FUNDING = DATASETS["funding_rates"]
DAY = datetime(2025, 6, 2, tzinfo=UTC)
BTC = symbol_settings("BTC/USDT:USDT", start=datetime(2025, 1, 1, tzinfo=UTC))
ETH = symbol_settings("ETH/USDT:USDT", start=datetime(2025, 1, 1, tzinfo=UTC))
HOUR_MS, EIGHT_HOURS_MS, FOUR_HOURS_MS = 3_600_000, 28_800_000, 14_400_000


def funding_asset(symbol):
    return build_candle_asset(symbol, partitions_per_run=720, dataset=FUNDING)


def stored(warehouse, symbol, start, end):
    with warehouse.connect(read_only=True) as conn:
        return queries.window_candles(conn, symbol, start, end, dataset=FUNDING)


def test_one_materialization_stores_what_plain_ccxt_fetches_value_for_value(warehouse, sources, emulator):
    result = materialize(funding_asset(BTC), warehouse=warehouse, sources=sources, first="2025-06-02-00:00",
                         last="2025-06-02-23:00")
    client = ccxt_client("binanceusdm", emulator.url, fetchMarkets={"types": ["linear"]}, fetchCurrencies=False)
    plain = client.fetch_funding_rate_history("BTC/USDT:USDT", since=ms(DAY),
                                              params={"until": ms(DAY + timedelta(days=1)) - 1})
    rows = stored(warehouse, "BTC/USDT:USDT", DAY, DAY + timedelta(days=1))
    assert rows.height == len(plain) == 3
    assert rows["venue_ts"].dt.epoch("ms").to_list() == [p["timestamp"] for p in plain]
    assert rows["ts"].dt.epoch("ms").to_list() == [p["timestamp"] // HOUR_MS * HOUR_MS for p in plain]
    assert rows["rate"].to_list() == [p["fundingRate"] for p in plain]
    assert rows["mark_price"].to_list() == [float(p["info"]["markPrice"]) for p in plain]
    assert set(rows["interval_ms"]) == {EIGHT_HOURS_MS} and set(rows["source"]) == {"binance"}
    assert any(t % HOUR_MS for t in rows["venue_ts"].dt.epoch("ms")), "the emulator stamps some events late"
    materializations = result.asset_materializations_for_node("funding_rates__btc_usdt")
    assert len(materializations) == 24
    newest = {k: v.value for k, v in materializations[-1].metadata.items()}
    assert (newest["run_rows"], newest["run_expected_rows"], newest["missing_events"], newest["source"]) == (
        3, 3, 0, "binance")
    checks = check_results(result)
    assert checks["validation"].passed and checks["gaps"].passed and set(checks) == {"validation", "gaps"}


def test_the_8h_to_4h_change_is_recorded_and_leaves_no_false_gap(warehouse, sources):
    symbol, change = INTERVAL_CHANGE
    changed = datetime.fromtimestamp(change / 1000, UTC)
    first, last = changed - timedelta(days=2), changed + timedelta(days=2)
    asset = funding_asset(ETH)
    # hour by hour around the change (as the schedule stores them), the rest as two range runs
    materialize(asset, warehouse=warehouse, sources=sources, first=f"{first:%Y-%m-%d-%H:%M}",
                last=f"{changed - timedelta(hours=9):%Y-%m-%d-%H:%M}")
    for hour in range(-8, 9):
        materialize(asset, warehouse=warehouse, sources=sources,
                    partition_key=f"{changed + timedelta(hours=hour):%Y-%m-%d-%H:%M}")
    materialize(asset, warehouse=warehouse, sources=sources, first=f"{changed + timedelta(hours=9):%Y-%m-%d-%H:%M}",
                last=f"{last - timedelta(hours=1):%Y-%m-%d-%H:%M}")
    rows = stored(warehouse, symbol, first, last)
    want = funding_events(symbol, ms(first), ms(last))
    assert rows["ts"].dt.epoch("ms").to_list() == want["open_ms"].to_list() and rows.height == 6 + 12
    assert rows["interval_ms"].to_list() == (want["interval_hours"] * HOUR_MS).to_list()
    with warehouse.connect(read_only=True) as conn:
        assert queries.gaps(conn, symbol, dataset=FUNDING).height == 0
        timeline = conn.sql("SELECT since, interval_ms FROM funding_rates_intervals WHERE symbol = ? ORDER BY since",
                            params=[symbol]).fetchall()
        coverage = queries.coverage(conn, [replace(ETH, start=first)], until=last, dataset=FUNDING)
    assert timeline == [(first.replace(tzinfo=None), EIGHT_HOURS_MS), (changed.replace(tzinfo=None), FOUR_HOURS_MS)]
    assert coverage.select("expected", "rows", "missing", "completeness_pct").row(0) == (18, 18, 0, 100.0)


def test_a_funding_event_the_venue_drops_is_reported_as_a_gap(warehouse, sources, emulator):
    first, dropped, fraction = _window_losing_one_inner_event(days=3)
    emulator.add_fault(f"binanceusdm:holes:{fraction}")
    result = materialize(funding_asset(BTC), warehouse=warehouse, sources=sources, first=f"{first:%Y-%m-%d-%H:%M}",
                         last=f"{first + timedelta(days=3, hours=-1):%Y-%m-%d-%H:%M}")
    with warehouse.connect(read_only=True) as conn:
        gaps = queries.gaps(conn, "BTC/USDT:USDT", dataset=FUNDING)
    assert stored(warehouse, "BTC/USDT:USDT", first, first + timedelta(days=3)).height == 8
    assert gaps.select("first_missing", "last_missing", "missing").rows() == [(dropped, dropped, 1)]
    gaps_check = check_results(result)["gaps"]
    assert not gaps_check.passed
    assert {k: v.value for k, v in gaps_check.metadata.items() if k.startswith("missing_")} == {
        "missing_funding_events": 1}
    lacking = {m.partition: m.metadata["missing_events"].value
               for m in result.asset_materializations_for_node("funding_rates__btc_usdt")}
    assert {key: n for key, n in lacking.items() if n} == {f"{dropped:%Y-%m-%d-%H:%M}": 1}


def test_binance_down_fails_over_to_okx_and_the_rows_say_so(warehouse, sources, emulator):
    recent = (datetime.now(UTC) - timedelta(days=10)).replace(hour=0, minute=0, second=0, microsecond=0)
    symbol = replace(BTC, start=recent - timedelta(days=1), sources=("binance", "okx", "bybit"))
    emulator.add_fault("binanceusdm:status:503")
    materialize(funding_asset(symbol), warehouse=warehouse, sources=sources, first=f"{recent:%Y-%m-%d-%H:%M}",
                last=f"{recent + timedelta(hours=23):%Y-%m-%d-%H:%M}")
    rows = stored(warehouse, "BTC/USDT:USDT", recent, recent + timedelta(days=1))
    want = funding_events("BTC/USDT:USDT", ms(recent), ms(recent + timedelta(days=1)))
    assert rows.height == 3 and set(rows["source"]) == {"okx"} and rows["mark_price"].null_count() == 3
    assert rows["rate"].to_list() == want["rate"].to_list()
    with warehouse.connect(read_only=True) as conn:
        outcomes = conn.sql("SELECT source, outcome FROM ingest_log WHERE dataset = 'funding_rates' "
                            "GROUP BY ALL ORDER BY source").fetchall()
    assert outcomes == [("binance", "error"), ("okx", "ok")]


def test_an_event_binance_drops_is_filled_from_okx_as_a_missing_candle_is(warehouse, sources, emulator):
    recent = (datetime.now(UTC) - timedelta(days=20)).replace(hour=0, minute=0, second=0, microsecond=0)
    symbol = replace(BTC, start=recent - timedelta(days=2), sources=("binance", "okx"))
    asset = funding_asset(symbol)
    materialize(asset, warehouse=warehouse, sources=sources,
                partition_key=f"{recent - timedelta(hours=8):%Y-%m-%d-%H:%M}")
    # Binance's answer around the 00:00 hour lacks that event (and any hashing lower), OKX has it
    lost = unit_hash(np.array([ms(recent)], dtype=np.uint64))[0]
    emulator.add_fault(f"binanceusdm:holes:{lost + 1e-12}")
    materialize(asset, warehouse=warehouse, sources=sources, partition_key=f"{recent:%Y-%m-%d-%H:%M}")
    rows = stored(warehouse, "BTC/USDT:USDT", recent - timedelta(hours=8), recent + timedelta(hours=1))
    assert rows.select("ts", "source").rows() == [(recent.replace(tzinfo=None) - timedelta(hours=8), "binance"),
                                                  (recent.replace(tzinfo=None), "okx")]


def test_each_stored_event_keeps_the_caps_it_passed_and_a_rate_beyond_them_fails_the_run(warehouse, sources,
                                                                                         emulator):
    recent = (datetime.now(UTC) - timedelta(days=10)).replace(hour=0, minute=0, second=0, microsecond=0)
    symbol = replace(ETH, start=recent - timedelta(days=1), sources=("okx",))
    materialize(funding_asset(symbol), warehouse=warehouse, sources=sources, first=f"{recent:%Y-%m-%d-%H:%M}",
                last=f"{recent + timedelta(hours=11):%Y-%m-%d-%H:%M}")
    rows = stored(warehouse, symbol.symbol, recent, recent + timedelta(hours=12))
    okx = "okx GET /api/v5/public/funding-rate maxFundingRate/minFundingRate"
    assert rows.height == 3 and set(rows.select("rate_cap", "rate_floor", "caps_from").rows()) == {
        (0.02, -0.02, okx)}
    emulator.add_fault("okx:rate:0.025")  # beyond ETH's +-2 %, inside the flat +-3 %
    result = materialize(funding_asset(symbol), warehouse=warehouse, sources=sources, raise_on_error=False,
                         partition_key=f"{recent + timedelta(hours=12):%Y-%m-%d-%H:%M}")
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    error = str(failure.event_specific_data.error)
    assert not result.success and ("rate +0.025 beyond the cap +0.02 / floor -0.02 stated by " + okx) in error
    assert "funding events failed validation" in error and "okx (broken): invalid funding events: " in error
    assert "rate_beyond_cap: 1 funding event(s), first at " in error  # before, candle(s)
    assert stored(warehouse, symbol.symbol, recent, recent + timedelta(days=1)).equals(rows)


def _window_losing_one_inner_event(*, days: int):
    """A window of `days` from some day after `DAY` whose fetched span (a day's margin each side) holds exactly one
    event the holes fault drops at the smallest fraction, that event strictly inside the window (an event lost first
    in a window with nothing stored before it proves nothing); its start, the event's time, the fraction."""
    for offset in range(30):
        first = DAY + timedelta(days=offset)
        span = funding_events("BTC/USDT:USDT", ms(first - timedelta(days=1)), ms(first + timedelta(days=days + 1)))
        hashes = unit_hash(span["open_ms"].to_numpy().astype(np.uint64))
        lowest = int(np.argmin(hashes))
        lost = datetime.fromtimestamp(span["open_ms"][lowest] / 1000, UTC)
        if first < lost < first + timedelta(days=days, hours=-8):
            return first, lost.replace(tzinfo=None), float(np.sort(hashes)[:2].mean())
    raise AssertionError("no such window in a month")


def test_the_runs_log_counts_funding_events_not_candles(warehouse, sources):
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([funding_asset(BTC)], instance=instance, resources={"warehouse": warehouse,
                                                                               "sources": sources},
                            tags={"dagster/asset_partition_range_start": "2025-06-02-00:00",
                                  "dagster/asset_partition_range_end": "2025-06-02-23:00"})
    said = [entry.user_message for entry in instance.all_logs(result.run_id) if "UTC: stored" in entry.user_message]
    assert said == ["BTC/USDT:USDT 2025-06-02 00:00 .. 2025-06-03 00:00 UTC: stored 3 of 3 funding event(s), from "
                    "binance"]
