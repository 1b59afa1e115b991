"""Where a venue's candles come from, and which of them one page request gets.

Every venue dialect pages the same way underneath: a window of open times, a row limit, and either "the oldest rows
from the start" or "the newest rows up to the end". The dialects only differ in parameter names and row layout, so
the selection lives here once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import polars as pl

from datafactory_assets.emulator.candles import listed_since_ms, price_decimals, synthetic_candles
from datafactory_assets.emulator.listing import Listed, binance_market

CANONICAL_SYMBOL = re.compile(r"^[A-Z0-9]+/[A-Z0-9]+$")


@dataclass(frozen=True)
class Page:
    """The candles one request gets; `final` when no later request can ever get different ones (safe to cache)."""

    frame: pl.DataFrame
    final: bool


class CandleStore:
    """Synthetic candles for the listed symbols, recorded ones (served verbatim) for the replayed symbols.

    `listing` is the market a venue with a full listing (Binance) shows: with `realistic_market`, a few hundred
    USDT pairs around `symbols` (`listing.binance_market`), else just `symbols`, all trading. Candles are served
    for every pair of it.
    """

    def __init__(self, symbols: Iterable[str], replay: Mapping[str, pl.DataFrame], *, realistic_market: bool = False):
        self._replay = dict(replay)
        self.symbols: tuple[str, ...] = tuple(dict.fromkeys([*symbols, *self._replay]))
        malformed = [symbol for symbol in self.symbols if not CANONICAL_SYMBOL.match(symbol)]
        if malformed:
            raise ValueError(f"symbols must be canonical BASE/QUOTE such as 'BTC/USDT', got {malformed}")
        self.listing: tuple[Listed, ...] = (binance_market(self.symbols) if realistic_market
                                            else tuple(Listed(symbol, "TRADING", 0.0) for symbol in self.symbols))

    def price_decimals(self, symbol: str) -> int:
        """Decimals of the price tick; recorded files may hold anything, so they get the finest tick."""
        return 8 if symbol in self._replay else price_decimals(symbol)

    def page(
        self, symbol: str, *, timeframe_ms: int, start_ms: int | None, end_ms: int | None, limit: int, now_ms: int
    ) -> Page:
        """Candles opening in [start_ms, end_ms] (both inclusive, either open) and not after now, oldest first.

        With a start, the oldest `limit` of them; without, the newest `limit`.
        """
        current_open = now_ms // timeframe_ms * timeframe_ms
        last = current_open if end_ms is None else min(end_ms, current_open)
        if symbol in self._replay:
            frame = self._replayed(symbol, start_ms=start_ms, last=last, limit=limit)
        else:
            frame = self._synthetic(symbol, timeframe_ms=timeframe_ms, start_ms=start_ms, last=last, limit=limit)
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

    @staticmethod
    def _synthetic(symbol: str, *, timeframe_ms: int, start_ms: int | None, last: int, limit: int) -> pl.DataFrame:
        listed = -(-listed_since_ms(symbol) // timeframe_ms) * timeframe_ms
        last = last // timeframe_ms * timeframe_ms
        if start_ms is None:
            first = max(listed, last - (limit - 1) * timeframe_ms)
        else:
            first = max(listed, -(-start_ms // timeframe_ms) * timeframe_ms)
            last = min(last, first + (limit - 1) * timeframe_ms)
        return synthetic_candles(symbol, first, last + timeframe_ms, timeframe_ms)
