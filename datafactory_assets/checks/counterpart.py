"""Accuracy across datasets: a perpetual's stored closes held against another dataset's stored closes, the mark
price against the index price of the same perpetual, the perpetual's trade price against its spot pair's.

Both sides are read from the warehouse after the write, never fetched, in the write's own connection
(`counterpart_reads` says what the step reads back beside its own rows): the check says whether what is stored
agrees, at no request cost and without a warehouse session of its own (one more opening of the file, under the lock
every writer waits for). Minutes are compared where both sides have a stored candle; every compared close must lie
within `tolerance_bps` of the other side's (the `[accuracy]` tolerance: a perpetual trades at a basis of a few basis
points to its index and to spot, so a wider gap is a wrong price on one side or a dislocation worth a look).
Disagreement fails with ERROR severity and does not block: which side is wrong is not known, and both passed
validation.

When the other side has no stored candle in the window (not collected, not yet materialized), the verdict is
unknown: a warning that is never a pass, since a green check must mean closes were compared and agreed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import dagster as dg
import polars as pl

from datafactory_assets.checks.names import MARK_VS_INDEX, PERP_VS_SPOT
from datafactory_assets.datasets import DATASETS, Dataset
from datafactory_assets.instruments import Instrument

_LISTED_WORST = 5


@dataclass(frozen=True)
class Counterpart:
    """What a cross-dataset check compares with: the dataset holding the other side, and whether that side is the
    spot pair of the perpetual (`BTC/USDT` for `BTC/USDT:USDT`) or the perpetual itself."""

    dataset: str
    spot_pair: bool

    def symbol(self, symbol: str) -> str:
        instrument = Instrument.parse(symbol)
        return f"{instrument.base}/{instrument.quote}" if self.spot_pair else symbol


COUNTERPARTS: dict[str, Counterpart] = {
    MARK_VS_INDEX: Counterpart(dataset="index_candles", spot_pair=False),
    PERP_VS_SPOT: Counterpart(dataset="candles", spot_pair=True),
}


def counterpart_reads(checks: Collection[str], symbol: str) -> list[tuple[str, Dataset]]:
    """The (symbol, dataset) whose stored rows of the window the cross-dataset checks among `checks` compare
    `symbol`'s with: what the step reads back beside its own rows (`ingest_window`'s `read_also`)."""
    return [(COUNTERPARTS[check].symbol(symbol), DATASETS[COUNTERPARTS[check].dataset])
            for check in checks if check in COUNTERPARTS]


def check_counterpart(check: str, stored: pl.DataFrame, symbol: str, *,
                      alongside: Mapping[tuple[str, str], pl.DataFrame], tolerance_bps: float) -> dg.AssetCheckResult:
    """The verdict of `check` (a key of `COUNTERPARTS`) over the window's stored candles `stored` of `symbol`,
    against the other side's stored rows of the window in `alongside` (by symbol and dataset name, as read back
    for `counterpart_reads`)."""
    counterpart = COUNTERPARTS[check]
    other_symbol = counterpart.symbol(symbol)
    return counterpart_result(check, stored, alongside[(other_symbol, counterpart.dataset)],
                              tolerance_bps=tolerance_bps, other=f"{counterpart.dataset} of {other_symbol}")


def counterpart_result(check: str, stored: pl.DataFrame, other_rows: pl.DataFrame, *, tolerance_bps: float,
                       other: str) -> dg.AssetCheckResult:
    """Pass when every minute both sides hold agrees within `tolerance_bps`; unknown (WARN, not passed) when no
    minute is held by both; ERROR when one or more disagree, the worst listed."""
    pairs = stored.select("ts", "close").join(other_rows.select("ts", other_close="close"), on="ts", how="inner")
    if not pairs.height:
        return dg.AssetCheckResult(
            check_name=check, passed=False, severity=dg.AssetCheckSeverity.WARN,
            metadata={"verdict": "unknown", "compared": 0, "other_side": other,
                      "reason": f"no stored {other} candle in the window: nothing to compare with"})
    pairs = pairs.with_columns(bps=((pl.col("close") - pl.col("other_close")).abs()
                                    / pl.col("other_close").abs() * 10_000))
    over = pairs.filter(pl.col("bps") > tolerance_bps).sort("bps", descending=True)
    worst = "\n".join(f"| {r['ts']} | {r['close']} | {r['other_close']} | {r['bps']:.1f} |"
                      for r in over.head(_LISTED_WORST).iter_rows(named=True))
    return dg.AssetCheckResult(
        check_name=check, passed=not over.height, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"verdict": "agree" if not over.height else "disagree", "compared": pairs.height,
                  "other_side": other, "disagreeing": over.height, "tolerance_bps": tolerance_bps,
                  "max_bps": round(float(pairs["bps"].max()), 2),
                  "worst": dg.MetadataValue.md("| ts | close | other | bps |\n|---|---|---|---|\n" + worst
                                               if worst else "none")})
