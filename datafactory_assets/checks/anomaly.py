"""Unusual candles: a 1-candle return far outside the recent distribution, or a run of candles with no volume.

Both are warnings, not errors: crypto moves in bursts and thin pairs go quiet, so an anomaly is worth a look, not a
refused candle (implausible tenfold jumps are already refused by validation). The recent distribution is robust:
the median and the median absolute deviation (MAD, scaled by 1.4826 to a normal standard deviation) of the log
returns of a trailing window read from the warehouse plus the new candles, so the spike being judged barely moves
the yardstick. Returns are taken only between consecutive candles, so a gap never reads as a jump.

A zero volume counts towards a streak only from a source whose zero means "no trades": Yahoo answers 0 for about half
of its intraday crypto bars while prices move (`VenueQuirks.zero_volume_is_no_trades`), so its zeros say nothing and
break a streak rather than make one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import dagster as dg
import polars as pl

from datafactory_assets.checks.specs import ANOMALY
from datafactory_assets.settings import AnomalySettings, SymbolSettings
from datafactory_assets.sources.venues import UNREPORTED_ZERO_VOLUME

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation
MEAN_AD_TO_SIGMA = 1.2533  # the same for the mean absolute deviation, used when over half the returns are equal
MIN_RETURNS = 30  # fewer returns than this make no distribution to judge against
_LISTED = 10


def log_returns(candles: pl.DataFrame, *, timeframe_ms: int) -> pl.DataFrame:
    """`ts` and `log_return` = ln(close / previous close) for each candle whose previous candle is stored."""
    ordered = candles.sort("ts")
    consecutive = (pl.col("ts") - pl.col("ts").shift(1)) == pl.duration(milliseconds=timeframe_ms)
    return ordered.select("ts", log_return=(pl.col("close") / pl.col("close").shift(1)).log()).filter(consecutive)


def robust_z(returns: pl.Series) -> pl.Series:
    """(return - median) / robust sigma; all zeros when the returns do not vary at all."""
    median = returns.median()
    sigma = MAD_TO_SIGMA * (returns - median).abs().median()
    if not sigma:
        sigma = MEAN_AD_TO_SIGMA * (returns - median).abs().mean()
    if not sigma:
        return pl.zeros(returns.len(), eager=True).alias("z")
    return ((returns - median) / sigma).alias("z")


def return_outliers(returns: pl.DataFrame, *, since: datetime, k: float) -> pl.DataFrame:
    """Of `log_returns`, those of candles opening at or after `since` that stray more than `k` robust sigmas from
    all of them, worst first: ts, return_bps, z. Empty when fewer than MIN_RETURNS make no distribution."""
    if returns.height < MIN_RETURNS:
        return pl.DataFrame(schema={"ts": pl.Datetime("us"), "return_bps": pl.Float64, "z": pl.Float64})
    scored = returns.with_columns(robust_z(returns["log_return"]))
    return (scored.filter((pl.col("ts") >= since.replace(tzinfo=None)) & (pl.col("z").abs() > k))
            .select("ts", return_bps=(pl.col("log_return").exp() - 1) * 10_000, z="z")
            .sort(pl.col("z").abs(), descending=True))


def zero_volume_streaks(candles: pl.DataFrame, *, since: datetime, min_length: int,
                        timeframe_ms: int) -> pl.DataFrame:
    """Runs of at least `min_length` consecutive zero-volume candles reaching `since` or later, longest first:
    first, last (open times) and candles. A zero from a source that leaves volume unreported is not quiet."""
    quiet = candles.filter((pl.col("volume") == 0) & ~pl.col("source").is_in(list(UNREPORTED_ZERO_VOLUME))).sort("ts")
    runs = (quiet.with_columns(run=pl.col("ts").dt.epoch("ms") // timeframe_ms - pl.int_range(pl.len()))
            .group_by("run").agg(first=pl.col("ts").min(), last=pl.col("ts").max(), candles=pl.len())
            .drop("run").with_columns(pl.col("candles").cast(pl.Int64)))
    return (runs.filter((pl.col("candles") >= min_length) & (pl.col("last") >= since.replace(tzinfo=None)))
            .sort(["candles", "first"], descending=[True, False]))


def anomaly_result(outliers: pl.DataFrame, streaks: pl.DataFrame, *, settings: AnomalySettings,
                   returns: int) -> dg.AssetCheckResult:
    """WARN when a return strays beyond k robust sigmas or a zero-volume streak is long enough."""
    spikes = "\n".join(f"| {r['ts']:%Y-%m-%d %H:%M} | {r['return_bps']:+.1f} | {r['z']:+.1f} |"
                       for r in outliers.head(_LISTED).iter_rows(named=True))
    quiet = "\n".join(f"| {r['first']:%Y-%m-%d %H:%M} | {r['last']:%Y-%m-%d %H:%M} | {r['candles']} |"
                      for r in streaks.head(_LISTED).iter_rows(named=True))
    problems = [f"{outliers.height} return(s) beyond {settings.k:g} robust sigmas"] if outliers.height else []
    problems += [f"{streaks.height} zero-volume streak(s) of {settings.zero_volume_streak}+ candles"] \
        if streaks.height else []
    return dg.AssetCheckResult(
        check_name=ANOMALY,
        passed=not problems,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(problems) or None,
        metadata={
            "k": settings.k,
            "returns_judged_against": returns,
            "return_outliers": outliers.height,
            "max_abs_z": round(float(outliers["z"].abs().max()), 2) if outliers.height else None,
            "worst_returns": dg.MetadataValue.md(
                "| candle | return (bps) | z |\n|---|---|---|\n" + spikes if spikes else "none"),
            "zero_volume_streaks": streaks.height,
            "longest_zero_volume_streak": int(streaks["candles"].max()) if streaks.height else 0,
            "streaks": dg.MetadataValue.md(
                "| first | last | candles |\n|---|---|---|\n" + quiet if quiet else "none"),
        },
    )


def trailing_start(start: datetime, *, settings: AnomalySettings, timeframe_ms: int) -> datetime:
    """Where the recent distribution that a window starting at `start` is judged against begins."""
    return start - timedelta(milliseconds=settings.window_candles * timeframe_ms)


def check_anomalies(candles: pl.DataFrame, symbol: SymbolSettings, *, start: datetime,
                    settings: AnomalySettings) -> dg.AssetCheckResult:
    """The anomaly verdict on the candles from `start` on, judged against all of `candles` (the stored ones from
    `trailing_start` to the window's end)."""
    returns = log_returns(candles, timeframe_ms=symbol.timeframe_ms)
    outliers = return_outliers(returns, since=start, k=settings.k)
    streaks = zero_volume_streaks(candles, since=start, min_length=settings.zero_volume_streak,
                                  timeframe_ms=symbol.timeframe_ms)
    return anomaly_result(outliers, streaks, settings=settings, returns=returns.height)
