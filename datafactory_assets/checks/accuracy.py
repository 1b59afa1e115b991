"""Cross-source accuracy: stored closes held against a second source's prices on a sample per partition.

The reference is CoinGecko by default: it aggregates many venues, so one venue's wrong prices stand out against it,
and one `market_chart/range` request prices a whole run (up to 90 days, hourly points; 5-minutely within the last
day), so the check costs one request per run, not per partition. A source id (`okx`) may be the reference instead,
for history older than CoinGecko's free plan serves (365 days); it costs that venue's paged requests for the run's
window (fewer than one per partition). A stored candle is never compared with the source that served it.

A reference point is the price at an instant, and CoinGecko's instants are not candle closes (hourly points come 40
to 48 s past the hour, 5-minutely ones just before the mark). So a point is held against the stored candle that
spans its instant (open < instant <= close time), read at that instant on the line from the candle's open to its
close: a point at a close time meets that close exactly (a venue reference's points), one inside a candle meets the
price the candle implies there, never a close up to half a minute away. A point no stored candle spans is not
compared; a window none of whose candles is met goes unverified.

Turns: one request per symbol and hour is what an hourly run of a whole universe would cost (200 requests, seven
minutes of CoinGecko's default budget). So the symbols take turns: each hour is the turn of at most
`checks_per_hour` of them, each symbol's every `rounds` hours (`ReferenceTurn`). A run asks the reference when its
window holds an hour of its symbol's turn (one request covers the whole window, so a run of `rounds` hours or more
always asks); otherwise its check warns that the window was not compared and when the symbol's next turn is
(Dagster requires a result of every check of a materialized asset, and a pass would claim a comparison).

Verdicts: a sampled close further than `tolerance_bps` from the reference fails the check with ERROR severity but
does not block: two sources disagreeing do not say which one is wrong, so the stored candles stay (they passed
validation) and the failure is what alerts and people act on. A reference that cannot answer (down, throttled, too
far back, a coin it does not list) does not fail the asset: the check warns that the window went unverified, since
a green check must mean the prices were compared and agreed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl

from datafactory_assets.checks.specs import ACCURACY
from datafactory_assets.settings import AccuracySettings, SymbolSettings
from datafactory_assets.sources.base import FetchResult, SourceError, SourceUnavailableError
from datafactory_assets.sources.resource import SourcesResource

COINGECKO = "coingecko"
_LISTED_WORST = 10


@dataclass(frozen=True)
class ReferenceTurn:
    """When a symbol's accuracy check asks the reference: for windows holding an hour whose number (hours since
    the epoch), modulo `rounds`, is the symbol's `slot`."""

    slot: int = 0
    rounds: int = 1

    @classmethod
    def every(cls, symbols: Sequence[str], *, per_hour: int) -> dict[str, ReferenceTurn]:
        """Each symbol's turn among `symbols`, at most `per_hour` of them sharing an hour (sorted once for all)."""
        rounds = -(-len(symbols) // per_hour)
        return {symbol: cls(slot=rank // per_hour, rounds=rounds) for rank, symbol in enumerate(sorted(symbols))}

    def due(self, start: datetime, end: datetime) -> bool:
        first, hours = int(start.timestamp()) // 3600, -(-int((end - start).total_seconds()) // 3600)
        return (self.slot - first) % self.rounds < hours

    def next_after(self, end: datetime) -> datetime:
        """The first hour at or after `end` that is the symbol's turn."""
        first = int(end.timestamp()) // 3600
        return datetime.fromtimestamp(((self.slot - first) % self.rounds + first) * 3600, UTC)

    def deferred(self, symbol: str, end: datetime, *, settings: AccuracySettings) -> dg.AssetCheckResult:
        """The verdict on a window that was not the symbol's turn: not compared, and when it will be."""
        return unverified_result(
            f"not {symbol}'s turn: {settings.checks_per_hour} symbol(s) an hour are compared ([accuracy] "
            f"checks_per_hour), each every {self.rounds} hours; its next is {self.next_after(end):%Y-%m-%d %H:00} UTC",
            settings=settings)


def reference_points(sources: SourcesResource, symbol: SymbolSettings, *, reference: str, start: datetime,
                     end: datetime) -> FetchResult:
    """The reference's prices at instants in [start, end]: `ts` (the instant, naive UTC) and `price`.

    A venue's candle gives its close at its close time. Raises `SourceError` when the reference cannot answer.
    """
    if reference == COINGECKO:
        return sources.reference().fetch_prices(symbol.symbol, start=start, end=end, guard=sources.guard(COINGECKO))
    client, guard = sources.client(reference), sources.guard(reference)
    reason = client.cannot_serve(start, symbol.timeframe) or guard.blocked_reason()
    if reason:
        raise SourceUnavailableError(reason)
    fetched = client.fetch_range(symbol.symbol, start=start, end=end, timeframe=symbol.timeframe, guard=guard)
    closes = fetched.frame.select(ts=pl.col("ts") + pl.duration(milliseconds=symbol.timeframe_ms), price="close")
    return FetchResult(frame=closes, requests=fetched.requests)


def deviations(stored: pl.DataFrame, points: pl.DataFrame, *, timeframe_ms: int) -> pl.DataFrame:
    """Each reference point against the stored candle spanning its instant: ts (the candle's open time), stored (the
    candle read at the instant, its close at its close time), reference, deviation_bps (signed, stored relative to
    reference); points no stored candle spans are dropped."""
    span = timedelta(milliseconds=timeframe_ms)
    candles = stored.select("ts", "open", "close", closes_at=pl.col("ts") + span)
    matched = (points.select(at=pl.col("ts").cast(pl.Datetime("us")), reference="price").sort("at")
               .join_asof(candles.sort("closes_at"), left_on="at", right_on="closes_at", strategy="forward",
                          tolerance=span - timedelta(microseconds=1))
               .drop_nulls("close"))
    elapsed = 1 - (pl.col("closes_at") - pl.col("at")).dt.total_microseconds() / (timeframe_ms * 1000)
    at_instant = pl.col("open") + (pl.col("close") - pl.col("open")) * elapsed
    return (matched.select("ts", stored=at_instant, reference="reference")
            .with_columns(deviation_bps=(pl.col("stored") / pl.col("reference") - 1) * 10_000).sort("ts"))


def sample_per_hour(compared: pl.DataFrame, size: int) -> pl.DataFrame:
    """At most `size` rows per hourly partition, spread evenly over the hour's rows (deterministic)."""
    index = pl.int_range(pl.len()).over(pl.col("ts").dt.truncate("1h"))
    count = pl.len().over(pl.col("ts").dt.truncate("1h"))
    return compared.sort("ts").filter(index * size // count != (index - 1) * size // count)


def accuracy_result(compared: pl.DataFrame, *, settings: AccuracySettings, requests: int,
                    latency_ms: float) -> dg.AssetCheckResult:
    """Fails (ERROR) when a sampled close is further than the tolerance from the reference."""
    distance = compared["deviation_bps"].abs()
    worst = compared.row(int(distance.arg_max()), named=True)
    beyond = int((distance > settings.tolerance_bps).sum())
    listed = compared.with_columns(distance=distance).sort("distance", descending=True).head(_LISTED_WORST)
    table = "\n".join(f"| {r['ts']:%Y-%m-%d %H:%M} | {r['stored']:.10g} | {r['reference']} | "
                      f"{r['deviation_bps']:+.2f} |" for r in listed.iter_rows(named=True))
    return dg.AssetCheckResult(
        check_name=ACCURACY,
        passed=beyond == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(f"{beyond} of {compared.height} sampled closes differ from {settings.reference} by more than "
                     f"{settings.tolerance_bps:g} bps" if beyond else None),
        metadata={
            "reference": settings.reference,
            "tolerance_bps": settings.tolerance_bps,
            "sample_size": compared.height,
            "beyond_tolerance": beyond,
            "max_deviation_bps": round(float(distance.max()), 3),
            "median_deviation_bps": round(float(distance.median()), 3),
            "worst_minute": f"{worst['ts']:%Y-%m-%d %H:%M} UTC",
            "worst_deviation_bps": round(worst["deviation_bps"], 3),
            "worst": dg.MetadataValue.md("| candle | stored | reference | bps |\n|---|---|---|---|\n" + table),
            "reference_requests": requests,
            "reference_latency_ms": round(latency_ms, 1),
        },
    )


def unverified_result(reason: str, *, settings: AccuracySettings, requests: int = 0) -> dg.AssetCheckResult:
    """The window could not be compared: a warning that says why, never a failed asset."""
    return dg.AssetCheckResult(
        check_name=ACCURACY,
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"not verified against {settings.reference}: {reason}",
        metadata={"reference": settings.reference, "tolerance_bps": settings.tolerance_bps, "sample_size": 0,
                  "unverified": reason, "reference_requests": requests},
    )


def check_accuracy(stored: pl.DataFrame, symbol: SymbolSettings, *, start: datetime, end: datetime,
                   settings: AccuracySettings, sources: SourcesResource) -> dg.AssetCheckResult:
    """The accuracy verdict on `stored`, the stored candles of [start, end): one reference fetch, a sample per
    hour."""
    stored = stored.filter(pl.col("source") != settings.reference)
    if stored.is_empty():
        return dg.AssetCheckResult(
            check_name=ACCURACY, passed=True, severity=dg.AssetCheckSeverity.ERROR,
            description=f"nothing to compare: no stored candle in the window comes from a source other than "
                        f"{settings.reference}",
            metadata={"reference": settings.reference, "sample_size": 0})
    try:
        fetched = reference_points(sources, symbol, reference=settings.reference, start=start, end=end)
    except SourceError as exc:
        return unverified_result(str(exc), settings=settings, requests=len(exc.requests))
    compared = sample_per_hour(deviations(stored, fetched.frame, timeframe_ms=symbol.timeframe_ms),
                               settings.sample_size)
    if compared.is_empty():
        return unverified_result(f"none of its {fetched.frame.height} points in the window falls in a stored candle",
                                 settings=settings, requests=len(fetched.requests))
    return accuracy_result(compared, settings=settings, requests=len(fetched.requests),
                           latency_ms=sum(r.latency_ms for r in fetched.requests))
