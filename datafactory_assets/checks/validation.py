"""Validation per dataset as pure functions over its canonical frame: each rule counts its offenders and names one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from datafactory_assets.frames import PRICE_COLUMNS

# No traded pair moves tenfold within a minute, or from one candle to the next: such a candle is a data error (a
# misplaced decimal, a spike), which the OHLC invariants alone let through when the high moves with it.
IMPLAUSIBLE_FACTOR = 10.0


@dataclass(frozen=True)
class Violation:
    """One broken rule: how many candles break it and the open time of the first; `detail` says more of the first
    where its rule needs it (the cap a funding rate broke and who stated it)."""

    rule: str
    count: int
    first_ts: datetime | None
    detail: str = ""

    def __str__(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.rule}: {self.count} candle(s), first at {self.first_ts}{detail}"


def validate_candles(frame: pl.DataFrame, *, start: datetime, end: datetime, timeframe_ms: int,
                     signed: bool = False) -> list[Violation]:
    """Every rule a stored candle must satisfy; an empty list means the frame may be written.

    Rules: no nulls; finite, positive prices; non-negative volume; low <= open, close <= high; open time aligned to
    the timeframe and inside [start, end); one candle per open time; no tenfold jump within a candle or between
    consecutive closes. `signed` values (a premium index: small, often negative) are not prices: the positive-price
    and tenfold-jump rules do not apply to them.
    """
    start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    columns = [*PRICE_COLUMNS, "volume"]
    lowest = pl.min_horizontal("open", "close")
    highest = pl.max_horizontal("open", "close")
    rules: dict[str, pl.Expr] = {
        "null_value": pl.any_horizontal(pl.col("ts", *columns).is_null()),
        "non_finite_value": pl.any_horizontal([~pl.col(c).is_finite() for c in columns]),
        "non_positive_price": pl.any_horizontal([pl.col(c) <= 0 for c in PRICE_COLUMNS]),
        "negative_volume": pl.col("volume") < 0,
        "ohlc_out_of_range": (pl.col("low") > lowest) | (pl.col("high") < highest) | (pl.col("low") > pl.col("high")),
        "misaligned_timestamp": (pl.col("ts").dt.epoch("ms") % timeframe_ms) != 0,
        "outside_window": (pl.col("ts") < start) | (pl.col("ts") >= end),
        "duplicate_timestamp": pl.col("ts").is_duplicated(),
        "implausible_jump": (pl.col("high") > IMPLAUSIBLE_FACTOR * pl.col("low"))
        | (pl.col("close") > IMPLAUSIBLE_FACTOR * pl.col("close").shift(1))
        | (pl.col("close").shift(1) > IMPLAUSIBLE_FACTOR * pl.col("close")),
    }
    if signed:
        del rules["non_positive_price"], rules["implausible_jump"]
    return violations_of(frame, rules)


def violations_of(frame: pl.DataFrame, rules: dict[str, pl.Expr]) -> list[Violation]:
    """Per rule (name -> an expression true for an offending row), how many rows of `frame` break it and the first
    one's time; rules no row breaks are left out."""
    flags = frame.sort("ts").select(pl.col("ts"), **{name: expr.fill_null(False) for name, expr in rules.items()})
    violations = []
    for name in rules:
        offenders = flags.filter(pl.col(name))
        if offenders.height:
            violations.append(Violation(rule=name, count=offenders.height, first_ts=offenders["ts"].min()))
    return violations


def validate_open_interest(frame: pl.DataFrame, *, start: datetime, end: datetime,
                           timeframe_ms: int) -> list[Violation]:
    """Every rule a stored open-interest row must satisfy: an amount present, finite and not negative; a value (in
    the quote currency) finite and not negative where the venue gives one (Bybit does not); the time on the
    dataset's grid and inside [start, end); one row per time."""
    start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    amount, value = pl.col("open_interest"), pl.col("open_interest_value")
    return violations_of(frame, {
        "null_value": pl.col("ts").is_null() | amount.is_null(),
        "non_finite_value": ~amount.is_finite() | ~value.is_finite(),
        "negative_open_interest": (amount < 0) | (value < 0),
        "misaligned_timestamp": (pl.col("ts").dt.epoch("ms") % timeframe_ms) != 0,
        "outside_window": (pl.col("ts") < start) | (pl.col("ts") >= end),
        "duplicate_timestamp": pl.col("ts").is_duplicated(),
    })
