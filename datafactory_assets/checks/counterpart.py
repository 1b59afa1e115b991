"""Accuracy across datasets: a perpetual's stored closes held against another dataset's stored closes, the mark
price against the index price of the same perpetual, the perpetual's trade price against its spot pair's.

Both sides are read from the warehouse after the write, never fetched: the check says whether what is stored agrees,
at no request cost. Minutes are compared where both sides have a stored candle; every compared close must lie within
`tolerance_bps` of the other side's (the `[accuracy]` tolerance: a perpetual trades at a basis of a few basis points
to its index and to spot, so a wider gap is a wrong price on one side or a dislocation worth a look). Disagreement
fails with ERROR severity and does not block: which side is wrong is not known, and both passed validation.

When the other side has no stored candle in the window (not collected, not yet materialized), the verdict is
unknown: a warning that is never a pass, since a green check must mean closes were compared and agreed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import dagster as dg
import polars as pl

from datafactory_assets.checks.names import MARK_VS_INDEX, PERP_VS_SPOT
from datafactory_assets.datasets import DATASETS
from datafactory_assets.instruments import Instrument
from datafactory_assets.warehouse import WarehouseResource
from datafactory_assets.warehouse.queries import window_candles

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


def check_counterpart(check: str, stored: pl.DataFrame, symbol: str, *, start: datetime, end: datetime,
                      warehouse: WarehouseResource, tolerance_bps: float) -> dg.AssetCheckResult:
    """The verdict of `check` (a key of `COUNTERPARTS`) over the window's stored candles `stored` of `symbol`."""
    counterpart = COUNTERPARTS[check]
    other_symbol = counterpart.symbol(symbol)
    with warehouse.connect(read_only=True) as conn:
        other = window_candles(conn, other_symbol, start, end, dataset=DATASETS[counterpart.dataset])
    return counterpart_result(check, stored, other, tolerance_bps=tolerance_bps,
                              other=f"{counterpart.dataset} of {other_symbol}")


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
