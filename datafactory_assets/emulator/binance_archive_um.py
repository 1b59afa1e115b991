"""The CSVs inside Binance's USDⓈ-M futures archive files (data.binance.vision `data/futures/um/...`), made from the
perpetual series the emulator's `binanceusdm` REST dialect serves.

Unlike the spot files, every futures CSV starts with a header row. The columns follow binance-public-data's README
("USD-M Futures `klines` files' data is from `/fapi/v1/klines`": Open time, Open, High, Low, Close, Volume, Close
time, Quote asset volume, Number of trades, Taker buy base asset volume, Taker buy quote asset volume, Ignore) under
the header names the real files carry:
- klines, markPriceKlines, indexPriceKlines, premiumIndexKlines: `open_time,open,high,low,close,volume,close_time,
  quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore`, times in milliseconds (the switch to
  microseconds is spot's only); the price klines carry 0 volumes and their count of basic data, as
  `/fapi/v1/markPriceKlines` does;
- fundingRate (monthly only): `calc_time,funding_interval_hours,last_funding_rate`, one row per funding event at the
  venue's own funding time;
- metrics (daily only): `create_time,symbol,sum_open_interest,sum_open_interest_value,
  count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,count_long_short_ratio,
  sum_taker_long_short_vol_ratio` every 5 minutes, `create_time` as `YYYY-MM-DD HH:MM:SS` UTC (the layout quoted in
  binance-public-data issue #211). The archive keeps open interest beyond the REST API's 30 days.
Numbers are written in their shortest exact form, as the futures files write them (`42314.0`, `279.061`).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from datafactory_assets.emulator.binance import kline_fields

KLINE_HEADER = ("open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "count",
                "taker_buy_volume", "taker_buy_quote_volume", "ignore")
FUNDING_HEADER = ("calc_time", "funding_interval_hours", "last_funding_rate")
METRICS_HEADER = ("create_time", "symbol", "sum_open_interest", "sum_open_interest_value",
                  "count_toptrader_long_short_ratio", "sum_toptrader_long_short_ratio", "count_long_short_ratio",
                  "sum_taker_long_short_vol_ratio")
KLINE_DATA = {"klines": "trade", "markPriceKlines": "mark", "indexPriceKlines": "index",
              "premiumIndexKlines": "premium"}
BASIC_DATA_PER_MINUTE = {"mark": 60, "index": 60, "premium": 12}  # one mark or index price a second, a premium per 5 s


def kline_csv(frame: pl.DataFrame, timeframe_ms: int, *, kind: str) -> bytes:
    """A klines file of `kind` ("trade", "mark", "index" or "premium") candles, with its header."""
    if kind == "trade":
        fields = kline_fields(frame, timeframe_ms)
        table = pl.DataFrame({**fields, "ignore": np.zeros(frame.height, dtype=np.int64)})
    else:
        zeros = np.zeros(frame.height, dtype=np.int64)
        table = frame.select("open_ms", "open", "high", "low", "close").with_columns(
            volume=pl.lit(0), close_time=pl.col("open_ms") + (timeframe_ms - 1), quote_volume=pl.lit(0),
            count=pl.lit(BASIC_DATA_PER_MINUTE[kind] * timeframe_ms // 60_000), taker_buy_volume=zeros,
            taker_buy_quote_volume=zeros, ignore=zeros)
    return table.rename(dict(zip(table.columns, KLINE_HEADER))).write_csv().encode()


def funding_csv(events: pl.DataFrame) -> bytes:
    """A month's funding events: time, interval hours, rate."""
    return events.select(calc_time="funding_ms", funding_interval_hours="interval_hours",
                         last_funding_rate="rate").write_csv().encode()


def metrics_csv(frame: pl.DataFrame, *, market_id: str) -> bytes:
    """A day's open interest and long/short ratios every 5 minutes."""
    table = frame.select(
        create_time=pl.from_epoch("open_ms", time_unit="ms").dt.strftime("%Y-%m-%d %H:%M:%S"),
        symbol=pl.lit(market_id), sum_open_interest="amount", sum_open_interest_value="value",
        count_toptrader_long_short_ratio="top_account_ratio", sum_toptrader_long_short_ratio="top_position_ratio",
        count_long_short_ratio="account_ratio", sum_taker_long_short_vol_ratio="taker_ratio")
    return table.write_csv().encode()
