"""Funding events as OKX and Bybit stamp them: at their scheduled time.

The store selects funding events by Binance's `fundingTime`, which may be a few milliseconds past the scheduled
time (`perp_series.MAX_FUNDING_LAG_MS`). OKX's `fundingTime` and Bybit's `fundingRateTimestamp` are whole hours in
their recorded answers (OKX docs-v5 "Get funding rate history" example, Bybit docs/v5/market/history-fund-rate.mdx
example `1672041600000`), so their pages select by the scheduled time (`open_ms`), which bounds and cursors name;
so does OKX's current funding rate (`okx_swap.funding_rate`), whose `prevFundingTime` and `settFundingRate` are the
last settled event's.
"""

from __future__ import annotations

import polars as pl

from datafactory_assets.emulator.perp_series import MAX_FUNDING_LAG_MS


def newest_events(store, symbol: str, *, first_ms: int, last_ms: int | None, limit: int, now_ms: int) -> pl.DataFrame:
    """The newest `limit` funding events of `store` scheduled in [first_ms, last_ms] (last: now), oldest first."""
    last = now_ms if last_ms is None else min(last_ms, now_ms)
    page = store.page(symbol, timeframe_ms=1, start_ms=None, end_ms=last + MAX_FUNDING_LAG_MS, limit=limit + 1,
                      now_ms=now_ms + MAX_FUNDING_LAG_MS, series="funding")
    return page.frame.filter(pl.col("open_ms").is_between(first_ms, last)).tail(limit)
