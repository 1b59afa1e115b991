"""Spot candles, the first dataset: OHLCV at the instrument's configured timeframe from every candle venue.

Rows per request, their cost and depth are the venues' own, cited per venue below (`sources/venues.py` keeps what
holds for a whole venue: budgets, bans, client options); the Binance archive keeps spot klines under
`data/spot/{period}/klines`.
"""

from __future__ import annotations

from datafactory_assets.checks.names import ACCURACY, ANOMALY, GAPS, VALIDATION
from datafactory_assets.checks.validation import validate_candles
from datafactory_assets.datasets.declaration import Cadence, Dataset, VenueEndpoint
from datafactory_assets.frames import CANDLE_SCHEMA, PRICE_COLUMNS, candles_from_rows

SPOT_CANDLES = Dataset(
    name="candles",
    table="candles",
    schema=CANDLE_SCHEMA,
    keys=("symbol", "ts"),
    values=(*PRICE_COLUMNS, "volume"),
    cadence=Cadence(),
    validate=validate_candles,
    venues={
        # Spot API docs, Kline/Candlestick data: 1000 klines per request, weight 2. Klines are identified by their
        # open time and served oldest first from `startTime`; without `endTime`, `limit=1` is the first kline at or
        # after it (ccxt's binance.fetchOHLCV sends no endTime for a spot `since`): the pair's first candle when
        # `startTime` precedes its listing.
        "binance": VenueEndpoint(call="fetch_ohlcv", limit=1000, weight=2, first_row_since=True),
        # One month or day file per download, a checksum and a zip (2 requests).
        "binance_archive": VenueEndpoint(call="archive", limit=31 * 1440, weight=2,
                                         archive_path="spot/{period}/klines"),
        # 300 per request from `candles` (recent) and `history-candles` alike (ccxt's okx.fetchOHLCV: "default 100,
        # max 300, only 100 if 'mark' or 'index'").
        "okx": VenueEndpoint(call="fetch_ohlcv", limit=300),
        # Bybit v5 kline: 1000 per request.
        "bybit": VenueEndpoint(call="fetch_ohlcv", limit=1000),
        # Kraken's Get OHLC Data answers up to 720 rows of an interval, the last always the still-open candle, so
        # 719 committed ones, and keeps no more than those.
        "kraken": VenueEndpoint(call="fetch_ohlcv", limit=719, depth_rows=719, last_row_open=True),
        # Coinbase Advanced Trade: 300 candles per request.
        "coinbase": VenueEndpoint(call="fetch_ohlcv", limit=300),
        # yfinance: its depth and span rules per interval live in `yahoo_source.INTERVALS`.
        "yahoo": VenueEndpoint(call="yfinance.history", limit=7 * 1440),
    },
    from_rows=candles_from_rows,
    checks={
        VALIDATION: "OHLC invariants, positive prices, non-negative volume, no nulls, aligned timestamps inside the "
                    "partition window, no duplicates.",
        GAPS: "Count and ranges of missing candles in the materialized partitions.",
        ACCURACY: "Sampled stored closes against a second source ([accuracy] reference), within tolerance_bps; warns "
                  "when the reference cannot answer.",
        ANOMALY: "1-candle log returns beyond k robust sigmas of the recent distribution, and zero-volume streaks "
                 "([anomaly]).",
    },
    market="spot",
    description="{timeframe} candles of {symbol} whose open time lies in the partition's hour.",
    revisions="candle_revisions",
    view_prefix="",
)
