"""Where a venue's candles come from, and which of them one page request gets.

Every venue dialect pages the same way underneath: a window of open times, a row limit, and either "the oldest rows
from the start" or "the newest rows up to the end". The dialects only differ in parameter names and row layout, so
the selection lives here once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import polars as pl

from datafactory_assets.emulator.candles import delisted_at_ms, listed_since_ms, price_decimals, synthetic_candles
from datafactory_assets.emulator.listing import Listed, binance_market, status_of
from datafactory_assets.emulator.perp_series import (
    HOUR_MS,
    MAX_FUNDING_LAG_MS,
    funding_events,
    funding_terms,
    is_perpetual,
    open_interest,
    perp_candles,
    perp_listed_since_ms,
    underlying,
)

CANONICAL_SYMBOL = re.compile(r"^[A-Z0-9]+/[A-Z0-9]+$")


@dataclass(frozen=True)
class Page:
    """The candles one request gets; `final` when no later request can ever get different ones (safe to cache)."""

    frame: pl.DataFrame
    final: bool


class CandleStore:
    """Synthetic candles for the listed symbols, recorded ones (served verbatim) for the replayed symbols.

    `listing` is the market a venue with a full listing (Binance) shows: with `realistic_market`, a few hundred
    USDT pairs around `symbols` (`listing.binance_market`), else just `symbols`, trading unless delisted. Candles
    are served for every pair of it, up to a delisted pair's delisting.
    """

    def __init__(self, symbols: Iterable[str], replay: Mapping[str, pl.DataFrame], *, realistic_market: bool = False):
        self._replay = dict(replay)
        self.symbols: tuple[str, ...] = tuple(dict.fromkeys([*symbols, *self._replay]))
        malformed = [symbol for symbol in self.symbols if not CANONICAL_SYMBOL.match(symbol)]
        if malformed:
            raise ValueError(f"symbols must be canonical BASE/QUOTE such as 'BTC/USDT', got {malformed}")
        self.listing: tuple[Listed, ...] = (
            binance_market(self.symbols) if realistic_market
            else tuple(Listed(symbol, status_of(symbol), 0.0) for symbol in self.symbols))

    def price_decimals(self, symbol: str) -> int:
        """Decimals of the price tick; recorded files may hold anything, so they get the finest tick."""
        return 8 if symbol in self._replay else price_decimals(underlying(symbol))

    def page(
        self, symbol: str, *, timeframe_ms: int, start_ms: int | None, end_ms: int | None, limit: int, now_ms: int,
        series: str = "trade",
    ) -> Page:
        """Rows opening in [start_ms, end_ms] (both inclusive, either open) and not after now, oldest first.

        With a start, the oldest `limit` of them; without, the newest `limit`. A perpetual (`BTC/USDT:USDT`) has
        several `series`: its "trade", "mark", "index" and "premium" candles, its "open_interest" every
        `timeframe_ms`, and its "funding" events (at times of their own: ask with a `timeframe_ms` of 1).
        """
        current_open = now_ms // timeframe_ms * timeframe_ms
        last = current_open if end_ms is None else min(end_ms, current_open)
        delisted = None if is_perpetual(symbol) else delisted_at_ms(symbol)
        if delisted is not None:  # "the newest rows" of a delisted pair are its last ones
            last = min(last, delisted - 1)
        if symbol in self._replay:
            frame = self._replayed(symbol, start_ms=start_ms, last=last, limit=limit)
        elif series == "funding":
            frame = _funding(symbol, start_ms=start_ms, last=last, limit=limit)
        else:
            frame = _on_grid(_series(symbol, series), listed_ms=_listed(symbol), timeframe_ms=timeframe_ms,
                             start_ms=start_ms, last=last, limit=limit)
        closed = frame.is_empty() or frame["open_ms"][-1] < current_open
        final = (end_ms is not None and end_ms < current_open) or (
            start_ms is not None and frame.height == limit and closed
        )
        return Page(frame=frame, final=final)

    def _replayed(self, symbol: str, *, start_ms: int | None, last: int, limit: int) -> pl.DataFrame:
        rows = self._replay[symbol]
        rows = rows.filter(pl.col("open_ms") <= last)
        if start_ms is None:
            return rows.tail(limit)
        return rows.filter(pl.col("open_ms") >= start_ms).head(limit)


def _listed(symbol: str) -> int:
    return perp_listed_since_ms(symbol) if is_perpetual(symbol) else listed_since_ms(symbol)


def _series(symbol: str, series: str) -> Callable[[int, int, int], pl.DataFrame]:
    """(start ms, end ms, timeframe ms) -> the rows of `symbol`'s `series` opening in [start, end)."""
    if not is_perpetual(symbol):
        return lambda start, end, timeframe: synthetic_candles(symbol, start, end, timeframe)
    if series == "open_interest":
        return lambda start, end, timeframe: open_interest(symbol, start, end, timeframe)
    return lambda start, end, timeframe: perp_candles(symbol, series, start, end, timeframe)


def _on_grid(rows: Callable[[int, int, int], pl.DataFrame], *, listed_ms: int, timeframe_ms: int,
             start_ms: int | None, last: int, limit: int) -> pl.DataFrame:
    listed = -(-listed_ms // timeframe_ms) * timeframe_ms
    last = last // timeframe_ms * timeframe_ms
    if start_ms is None:
        first = max(listed, last - (limit - 1) * timeframe_ms)
    else:
        first = max(listed, -(-start_ms // timeframe_ms) * timeframe_ms)
        last = min(last, first + (limit - 1) * timeframe_ms)
    return rows(first, last + timeframe_ms, timeframe_ms)


def _funding(symbol: str, *, start_ms: int | None, last: int, limit: int) -> pl.DataFrame:
    """Funding events by their venue timestamp: the oldest `limit` from the start, else the newest up to `last`.
    Intervals are at least an hour, so `limit` of them span at most `limit` x the longest interval."""
    longest = max(terms.interval_hours for terms in funding_terms(symbol)) * HOUR_MS
    if start_ms is None:
        events = funding_events(symbol, last - (limit + 1) * longest, last + 1)
        return events.filter(pl.col("funding_ms") <= last).tail(limit)
    events = funding_events(symbol, start_ms - MAX_FUNDING_LAG_MS, min(last, start_ms + (limit + 1) * longest) + 1)
    return events.filter(pl.col("funding_ms").is_between(start_ms, last)).head(limit)
