"""The canonical candle frame: the one Polars shape that flows from a source through validation into the warehouse.

It is spot candles' `Dataset.schema`, and `candles_from_rows` their `Dataset.from_rows`; another dataset declares
its own frame and builder the same way.

`ts` is the candle's UTC open time (naive datetime, microseconds, as DuckDB's TIMESTAMP). Sources convert into this
shape once, at the edge; everything downstream may rely on the column names and types.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

CANDLE_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "ts": pl.Datetime("us"),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Float64(),
    "source": pl.String(),
}
PRICE_COLUMNS = ("open", "high", "low", "close")
_ROW_SCHEMA = {"open_ms": pl.Int64(), **{c: pl.Float64() for c in (*PRICE_COLUMNS, "volume")}}


def empty_candles() -> pl.DataFrame:
    """A frame with the canonical columns and no rows."""
    return pl.DataFrame(schema=CANDLE_SCHEMA)


def candles_from_rows(rows: Sequence[Sequence], *, symbol: str, source: str) -> pl.DataFrame:
    """Build the canonical frame from `[open_ms, open, high, low, close, volume]` rows (ccxt's OHLCV shape).

    Nulls are kept as nulls so that validation can name them; nothing is sorted or deduplicated here.
    """
    if not rows:
        return empty_candles()
    return candles_from_columns(pl.DataFrame(rows, schema=_ROW_SCHEMA, orient="row", strict=False),
                                symbol=symbol, source=source)


def candles_from_columns(frame: pl.DataFrame, *, symbol: str, source: str) -> pl.DataFrame:
    """Build the canonical frame from columns `open_ms` (epoch ms), open, high, low, close and volume, for sources
    that parse whole files into columns rather than rows; nothing is sorted or deduplicated here either."""
    return frame.select(
        pl.lit(symbol, pl.String()).alias("symbol"),
        pl.from_epoch("open_ms", time_unit="ms").cast(pl.Datetime("us")).alias("ts"),
        *PRICE_COLUMNS,
        "volume",
        pl.lit(source, pl.String()).alias("source"),
    )
