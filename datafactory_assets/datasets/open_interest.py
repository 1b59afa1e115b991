"""Open interest of USDⓈ-M perpetuals every 5 minutes: the contracts held open, in the base currency, and their value
in the quote currency, from Binance USDⓈ-M, OKX swap and Bybit linear, and from Binance's bulk archive beyond the
30 days Binance's REST API keeps.

What each venue really gives (its docs, as the emulator's dialects cite them):
- Binance, `GET /futures/data/openInterestHist` (Open Interest Statistics): 500 rows per request, "Only the data of
  the latest 30 days is available"; a window reaching further back is refused, so the chain passes Binance over for
  it (`depth`) instead of failing into it.
- OKX, `GET /api/v5/rubik/stat/contracts/open-interest-history`: 100 rows per request, "the latest 1,440 data
  entries" per period, five days at 5m (`depth_rows`).
- Bybit, `GET /v5/market/open-interest`: 200 rows per request, back to the symbol's launch ("The upper limit time you
  can query is the launch time of the symbol"); it gives the amount in base coin only, so `open_interest_value` is
  empty in its rows.
- Binance's bulk archive, `futures/um/daily/metrics/<SYMBOL>/<SYMBOL>-metrics-<YYYY-MM-DD>.zip`: one file per day
  (288 rows at 5m), with `sum_open_interest` and `sum_open_interest_value` among other columns, read by header.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import polars as pl

from datafactory_assets.checks.names import GAPS, VALIDATION
from datafactory_assets.checks.validation import validate_open_interest
from datafactory_assets.datasets.declaration import Cadence, Dataset, VenueEndpoint

OPEN_INTEREST_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "ts": pl.Datetime("us"),
    "open_interest": pl.Float64(),
    "open_interest_value": pl.Float64(),
    "source": pl.String(),
}
_ROW_SCHEMA = {"open_ms": pl.Int64(), "open_interest": pl.Float64(), "open_interest_value": pl.Float64()}


def open_interest_from_rows(rows: Sequence[dict], *, symbol: str, source: str) -> pl.DataFrame:
    """The frame from ccxt's open interest structures; a value the venue leaves out stays null, nothing is sorted
    or deduplicated here.

    The amount in the base currency is ccxt's `baseVolume` where it sets one, else `openInterestAmount`: ccxt 4.5's
    okx puts the count of contracts in `openInterestAmount` (0.01 BTC each for BTC-USDT-SWAP) and the coin amount in
    `baseVolume`; its binance sets both to the coin amount, its bybit only `openInterestAmount` (coin, for linear)."""
    table = pl.DataFrame([(r["timestamp"], _first_set(r.get("baseVolume"), r.get("openInterestAmount")),
                           r.get("openInterestValue")) for r in rows],
                         schema=_ROW_SCHEMA, orient="row", strict=False)
    return open_interest_from_columns(table, symbol=symbol, source=source)


def _first_set(*values):
    return next((value for value in values if value is not None), None)


def open_interest_from_columns(frame: pl.DataFrame, *, symbol: str, source: str) -> pl.DataFrame:
    """The frame from columns `open_ms` (epoch ms), `open_interest` and `open_interest_value`, for sources that parse
    whole files into columns (the archive's metrics)."""
    return frame.select(
        pl.lit(symbol, pl.String()).alias("symbol"),
        pl.from_epoch("open_ms", time_unit="ms").cast(pl.Datetime("us")).alias("ts"),
        pl.col("open_interest").cast(pl.Float64()),
        pl.col("open_interest_value").cast(pl.Float64()),
        pl.lit(source, pl.String()).alias("source"),
    )


OPEN_INTEREST = Dataset(
    name="open_interest",
    table="open_interest",
    schema=OPEN_INTEREST_SCHEMA,
    keys=("symbol", "ts"),
    values=("open_interest", "open_interest_value"),
    cadence=Cadence(fixed="5m"),
    validate=validate_open_interest,
    venues={
        "binance": VenueEndpoint(call="fetch_open_interest_history", limit=500, depth=timedelta(days=30)),
        "binance_archive": VenueEndpoint(call="archive", limit=288, weight=2,
                                         archive_path="futures/um/{period}/metrics"),
        "okx": VenueEndpoint(call="fetch_open_interest_history", limit=100, depth_rows=1440),
        "bybit": VenueEndpoint(call="fetch_open_interest_history", limit=200),
    },
    market="swap",
    nullable=frozenset({"open_interest_value"}),
    from_rows=open_interest_from_rows,
    checks={
        VALIDATION: "Open interest present and not negative, its value not negative where given, times on the 5m "
                    "grid inside the partition window, no duplicates.",
        GAPS: "Count and ranges of missing 5-minute open interest rows in the materialized partitions.",
    },
    description="5m open interest of {symbol} (base and quote amounts) stamped in the partition's hour.",
    unit="open-interest reading",
)
