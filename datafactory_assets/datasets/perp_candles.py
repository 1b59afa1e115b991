"""USDⓈ-M perpetual candles, 1m: the trade candles (`perp_candles`) and the mark, index and premium-index candles
ccxt's `fetch_ohlcv` serves with `params={"price": "mark" | "index" | "premiumIndex"}`.

The four share one builder: they differ only in the price ccxt is asked for, which venues serve it, the archive
folder and how they are validated. Rows per request, cost and depth are the venues' own, cited per venue below.

What is stored:
- Trade candles are OHLCV as spot candles are (volume in the base coin: Binance's and Bybit's volume field, OKX's
  `volCcy`, which ccxt reads for a swap), held to spot candles' rules.
- Mark, index and premium candles carry no volume: no trades are behind a price index. Binance sends "0" in every
  volume field, OKX's mark and index rows have none (ccxt reads the `confirm` flag's neighbour, absent: None) and
  Bybit's rows are five fields. They keep the OHLCV frame, so that rollups and the freqtrade export apply, with
  volume stored as 0 from every venue: one meaning ("not a traded volume") instead of a venue-dependent 0 or null.
- The premium index is (mark - index) / index: a small number that is negative whenever the perpetual trades below
  its index, so the spot rules "positive prices" and "no tenfold jump" do not apply to it (a premium moving from
  0.0001 to 0.00001 is a tenfold move and ordinary); the OHLC invariants, alignment, window and duplicates do.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import polars as pl

from datafactory_assets.checks.names import GAPS, MARK_VS_INDEX, PERP_VS_SPOT, VALIDATION
from datafactory_assets.checks.validation import validate_candles
from datafactory_assets.datasets.declaration import Cadence, Dataset, Validator, VenueEndpoint
from datafactory_assets.frames import CANDLE_SCHEMA, PRICE_COLUMNS, candles_from_rows

# Binance USDⓈ-M, Kline / Mark Price Kline / Index Price Kline / Premium index Kline Data (developers.binance.com/
# docs/derivatives/usds-margined-futures/market-data/rest-api/...): max 1500 per request, but ccxt's
# binance.fetchOHLCV caps `limit` at 1000 for every market ("maxLimit = 1000"); weight by limit: 5 for [500, 1000].
# Served oldest first from `startTime` with no `endTime` for a linear `since`, as spot klines are.
_BINANCE = {"limit": 1000, "weight": 5, "first_row_since": True}
# OKX v5 (ccxt's okx.fetchOHLCV: "default 100, max 300, only 100 if 'mark' or 'index'"). Rate limits per 2 s and IP
# (docs-v5, Get candlesticks history / mark price candlesticks (history) / index candlesticks history): 20 for
# history candles and (history) mark candles, 10 for history index candles, so those weigh 2 of our 20. ccxt has no
# premium candles for OKX: `price="premiumIndex"` falls through to the trade candles, so OKX does not serve them here.
_OKX = {None: {"limit": 300}, "mark": {"limit": 100}, "index": {"limit": 100, "weight": 2}}
# Bybit v5 kline, mark-price-kline, index-price-kline, premium-index-price-kline: `limit` [1, 1000]; 600 requests per
# 5 s per IP whatever the endpoint. Depth: none stated (back to the launch).
_BYBIT = {"limit": 1000}
# Binance's bulk archive: futures/um monthly and daily zips per price kind (binance-public-data README), a checksum
# and a zip per download (2 requests); their CSVs have a header row, spot's do not.
_ARCHIVE = {"call": "archive", "limit": 31 * 1440, "weight": 2}


def price_candles_from_rows(rows: Sequence[Sequence], *, symbol: str, source: str) -> pl.DataFrame:
    """ccxt's OHLCV rows of a price index (mark, index, premium) as the candle frame, volume 0: see the module
    docstring."""
    return candles_from_rows(rows, symbol=symbol, source=source).with_columns(volume=pl.lit(0.0))


def _perp_candles(name: str, *, price: str | None, archive: str, what: str, checks: dict[str, str],
                  validate: Validator = validate_candles) -> Dataset:
    """One perpetual candle dataset: `price` is ccxt's `price` parameter (None: trade candles), `archive` the
    futures/um folder of its Binance archive files."""
    params = {"price": price} if price else {}
    venues = {
        "binance": VenueEndpoint(call="fetch_ohlcv", params=params, **_BINANCE),
        "binance_archive": VenueEndpoint(archive_path=f"futures/um/{{period}}/{archive}", **_ARCHIVE),
        "bybit": VenueEndpoint(call="fetch_ohlcv", params=params, **_BYBIT),
    }
    if price in _OKX:
        venues["okx"] = VenueEndpoint(call="fetch_ohlcv", params=params, **_OKX[price])
    return Dataset(
        name=name,
        table=name,
        schema=CANDLE_SCHEMA,
        keys=("symbol", "ts"),
        values=(*PRICE_COLUMNS, "volume"),
        cadence=Cadence(fixed="1m"),
        validate=validate,
        venues=venues,
        from_rows=candles_from_rows if price is None else price_candles_from_rows,
        checks={VALIDATION: "OHLC invariants, no nulls, aligned timestamps inside the partition window, no duplicates"
                            + ("" if price == "premiumIndex" else ", positive prices, no tenfold jump") + ".",
                GAPS: "Count and ranges of missing candles in the materialized partitions.", **checks},
        market="swap",
        description=f"1m {what} candles of {{symbol}} whose open time lies in the partition's hour.",
    )


PERP_CANDLES = _perp_candles("perp_candles", price=None, archive="klines", what="trade", checks={
    PERP_VS_SPOT: "Stored closes against the stored spot closes of the same pair (dataset candles), within "
                  "tolerance; unknown (a warning, never a pass) when the spot candles are not stored."})
MARK_CANDLES = _perp_candles("mark_candles", price="mark", archive="markPriceKlines", what="mark-price", checks={
    MARK_VS_INDEX: "Stored mark closes against the stored index closes (dataset index_candles), within tolerance; "
                   "unknown (a warning, never a pass) when the index candles are not stored."})
INDEX_CANDLES = _perp_candles("index_candles", price="index", archive="indexPriceKlines", what="index-price",
                              checks={})
PREMIUM_CANDLES = _perp_candles("premium_candles", price="premiumIndex", archive="premiumIndexKlines",
                                what="premium-index", checks={},
                                validate=partial(validate_candles, signed=True))
