"""Anomalies: the robust statistics as pure functions, and a recorded series with a spike and a zero-volume streak
served by the emulator and judged in a real materialization against the history in the warehouse."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import dagster as dg
import numpy as np
import polars as pl
import pytest

from datafactory_assets.assets import build_candle_asset
from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.checks.anomaly import (
    MAD_TO_SIGMA,
    MIN_RETURNS,
    check_anomalies,
    log_returns,
    return_outliers,
    robust_z,
    zero_volume_streaks,
)
from datafactory_assets.emulator.server import Emulator
from datafactory_assets.settings import AnomalySettings
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.sources.yahoo_source import YahooCandleSource
from datafactory_tests.helpers import ms, symbol_settings

DAY = datetime(2025, 1, 1)
MINUTE = timedelta(minutes=1)


def frame(closes: list[float], *, volumes: list[float] | None = None, skip: tuple[int, ...] = (),
          source: str = "binance") -> pl.DataFrame:
    """Candles from `source` opening a minute apart from DAY, minus the `skip` indices."""
    rows = [(DAY + i * MINUTE, c, (volumes or [1.0] * len(closes))[i]) for i, c in enumerate(closes) if i not in skip]
    return pl.DataFrame(rows, schema={"ts": pl.Datetime("us"), "close": pl.Float64, "volume": pl.Float64},
                        orient="row").with_columns(source=pl.lit(source))


def test_returns_are_taken_only_between_consecutive_candles():
    returns = log_returns(frame([100.0, 110.0, 121.0, 50.0, 55.0], skip=(2,)), timeframe_ms=60_000)
    assert returns["ts"].to_list() == [DAY + MINUTE, DAY + 4 * MINUTE]  # the 110 -> 50 step spans a hole
    assert returns["log_return"].to_list() == pytest.approx([np.log(1.1), np.log(1.1)])


def test_robust_z_uses_the_median_and_the_scaled_mad_so_an_outlier_hardly_moves_it():
    z = robust_z(pl.Series([1.0, 2.0, 3.0, 4.0, 100.0]))  # median 3, MAD 1
    assert z.to_list() == pytest.approx([(r - 3) / MAD_TO_SIGMA for r in (1, 2, 3, 4, 100)])


def test_robust_z_falls_back_to_the_mean_deviation_when_most_returns_are_equal_and_is_zero_when_all_are():
    z = robust_z(pl.Series([0.0] * 9 + [0.01]))  # MAD 0: mean |deviation| 0.001
    assert z[-1] == pytest.approx(0.01 / (1.2533 * 0.001)) and z[0] == 0
    assert robust_z(pl.Series([0.002] * 40)).to_list() == [0.0] * 40


def test_outliers_are_the_window_returns_beyond_k_worst_first_and_need_enough_history():
    rng = np.random.default_rng(7)
    closes = list(100 * np.exp(np.cumsum(rng.normal(0, 0.001, 200))))
    closes[150] *= 1.02  # up 2% and back: two returns of ~20 sigma
    closes[20] *= 1.02  # as big, but before `since`: part of the distribution, not reported
    returns = log_returns(frame(closes), timeframe_ms=60_000)
    outliers = return_outliers(returns, since=DAY + 100 * MINUTE, k=8)
    assert sorted(outliers["ts"].to_list()) == [DAY + 150 * MINUTE, DAY + 151 * MINUTE]
    assert outliers["z"].abs().is_sorted(descending=True) and outliers["z"].abs().min() > 8
    assert outliers.filter(pl.col("ts") == DAY + 150 * MINUTE)["return_bps"][0] == pytest.approx(
        (closes[150] / closes[149] - 1) * 10_000)
    assert return_outliers(returns.head(MIN_RETURNS - 1), since=DAY, k=1).is_empty()


def test_zero_volume_streaks_are_runs_of_consecutive_quiet_candles_reaching_the_window():
    volumes = [1.0] * 60
    for i in [*range(2, 8), *range(20, 23), *range(30, 36), *range(50, 58)]:
        volumes[i] = 0.0
    candles = frame([1.0] * 60, volumes=volumes, skip=(33,))  # the hole splits 30..35 into runs of 3 and 2
    streaks = zero_volume_streaks(candles, since=DAY + 5 * MINUTE, min_length=3, timeframe_ms=60_000)
    assert streaks.rows() == [(DAY + 50 * MINUTE, DAY + 57 * MINUTE, 8), (DAY + 2 * MINUTE, DAY + 7 * MINUTE, 6),
                              (DAY + 20 * MINUTE, DAY + 22 * MINUTE, 3), (DAY + 30 * MINUTE, DAY + 32 * MINUTE, 3)]
    assert zero_volume_streaks(candles, since=DAY + 58 * MINUTE, min_length=3, timeframe_ms=60_000).is_empty()


def test_yahoos_unreported_volumes_make_no_zero_volume_streak(emulator):
    """Yahoo answers volume 0 for about half of its intraday bars (through the real yfinance client); the same zeros
    from a venue whose zero means no trades would warn."""
    yahoo = YahooCandleSource(emulator_url=emulator.url)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    candles = yahoo.fetch_range("BTC/USDT", start=start, end=start + timedelta(hours=2), timeframe="1m").frame
    settings = AnomalySettings(k=8, window_candles=120, zero_volume_streak=3)
    assert (candles["volume"] == 0).mean() > 0.4
    verdict = check_anomalies(candles, symbol_settings("BTC/USDT"), start=start, settings=settings)
    assert verdict.passed and verdict.metadata["zero_volume_streaks"].value == 0
    as_venue = check_anomalies(candles.with_columns(source=pl.lit("binance")), symbol_settings("BTC/USDT"),
                               start=start, settings=settings)
    assert not as_venue.passed and as_venue.metadata["zero_volume_streaks"].value > 0


def recorded_series(start: datetime, minutes: int, *, spike_at: int, quiet: range) -> list[list]:
    """A seeded random walk of 1m candles: candle `spike_at` closes 3% up (the next one falls back), the `quiet`
    ones trade nothing."""
    rng = np.random.default_rng(11)
    closes = 20 * np.exp(np.cumsum(rng.normal(0, 0.0005, minutes + 1)))
    closes[spike_at + 1] *= 1.03
    rows = []
    for i in range(minutes):
        open_, close = round(closes[i], 6), round(closes[i + 1], 6)
        volume = 0.0 if i in quiet else round(float(rng.uniform(1, 5)), 3)
        rows.append([ms(start) + i * 60_000, open_, round(max(open_, close) * 1.0002, 6),
                     round(min(open_, close) * 0.9998, 6), close, volume])
    return rows


def test_a_replayed_spike_and_quiet_streak_warn_in_the_materialization(tmp_path, warehouse):
    start = datetime(2024, 3, 1, 8, tzinfo=UTC)
    path = tmp_path / "alt.json"
    path.write_text(json.dumps(recorded_series(start, 180, spike_at=150, quiet=range(160, 172))))
    alt = replace(symbol_settings("ALT/USDT"), sources=("binance",))
    with Emulator(replay={"ALT/USDT": path}) as emu:
        sources = SourcesResource(emulator_url=emu.url)
        ingest_window(alt, start=start, end=start + timedelta(hours=2), sources=sources, warehouse=warehouse)
        asset = build_candle_asset(alt, partitions_per_run=720,
                                   anomaly=AnomalySettings(k=8, window_candles=120, zero_volume_streak=10))
        result = dg.materialize([asset], partition_key="2024-03-01-10:00", instance=dg.DagsterInstance.ephemeral(),
                                resources={"warehouse": warehouse, "sources": sources})
    assert result.success
    (evaluation,) = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
                     and e.event_specific_data.check_name == "anomaly"]
    info = {k: v.value for k, v in evaluation.metadata.items()}
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert (info["return_outliers"], info["zero_volume_streaks"], info["longest_zero_volume_streak"]) == (2, 1, 12)
    assert info["returns_judged_against"] == 179  # 119 stored before the hour, the hour's first against the last
    assert "| 2024-03-01 10:30 | +305.6 | +68.1 |\n| 2024-03-01 10:31 | -288.5 | -66.2 |" in info["worst_returns"]
    assert "| 2024-03-01 10:40 | 2024-03-01 10:51 | 12 |" in info["streaks"]


def test_ordinary_candles_pass(warehouse, sources):
    btc = symbol_settings("BTC/USDT")
    start = datetime(2024, 3, 1, 8, tzinfo=UTC)
    ingest_window(btc, start=start, end=start + timedelta(hours=1), sources=sources, warehouse=warehouse)
    result = dg.materialize([build_candle_asset(btc, partitions_per_run=720)], partition_key="2024-03-01-09:00",
                            instance=dg.DagsterInstance.ephemeral(),
                            resources={"warehouse": warehouse, "sources": sources})
    (evaluation,) = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
                     and e.event_specific_data.check_name == "anomaly"]
    assert evaluation.passed and evaluation.metadata["returns_judged_against"].value == 119
