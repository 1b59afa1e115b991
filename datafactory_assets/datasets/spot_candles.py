"""Spot candles, the first dataset: OHLCV at the instrument's configured timeframe from every candle venue.

Rows per request and costs are the venues' own (each cited in `sources/venues.py`, which keeps what holds for a whole
venue: budgets, bans, client options); the Binance archive keeps spot klines under `data/spot/{period}/klines`.
"""

from __future__ import annotations

from datafactory_assets.checks.validation import validate_candles
from datafactory_assets.datasets.declaration import Cadence, Dataset, VenueEndpoint
from datafactory_assets.frames import CANDLE_SCHEMA, PRICE_COLUMNS

SPOT_CANDLES = Dataset(
    name="candles",
    table="candles",
    schema=CANDLE_SCHEMA,
    keys=("symbol", "ts"),
    values=(*PRICE_COLUMNS, "volume"),
    cadence=Cadence(),
    validate=validate_candles,
    venues={
        "binance": VenueEndpoint(call="fetch_ohlcv", limit=1000, weight=2),
        "binance_archive": VenueEndpoint(call="archive", limit=31 * 1440, weight=2,
                                         archive_path="spot/{period}/klines"),
        "okx": VenueEndpoint(call="fetch_ohlcv", limit=300),
        "bybit": VenueEndpoint(call="fetch_ohlcv", limit=1000),
        "kraken": VenueEndpoint(call="fetch_ohlcv", limit=719, depth_rows=719),
        "coinbase": VenueEndpoint(call="fetch_ohlcv", limit=300),
        "yahoo": VenueEndpoint(call="yfinance.history", limit=7 * 1440),
    },
    market="spot",
    description="candles whose open time lies in the partition's hour",
    revisions="candle_revisions",
    view_prefix="",
)
