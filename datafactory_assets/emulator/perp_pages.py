"""Pages of perpetual-instrument data for the OKX and Bybit dialects, with the spot store underneath.

A dialect keeps one `store` through which faults and price offsets reach every page (`Venue.with_store` wraps it in
an `AlteredStore`). The server hands every venue a `PerpStore`, and a venue lists the perpetuals of the store it is
built with (`perpetuals_of`: none for a bare `CandleStore`): `page(symbol, ...)` of a spot symbol is the spot
store's page, of a perpetual (`BTC/USDT:USDT`) the page of `perp_series` candles of the asked
`kind` (trade, mark, index or premium), selected the same way (a window of open times, a limit, oldest from the start
or newest up to the end). So a `holes` fault or a price offset alters perpetual candles exactly as it alters spot
ones. Funding events and open interest are not candles: `funding` and `open_interest` select them here (one place for
every dialect), and only the faults that replace the answer (status, garbage, empty, timeout, reset) reach them.
"""

from __future__ import annotations

import polars as pl

from datafactory_assets.emulator import perp_series
from datafactory_assets.emulator.store import CandleStore, Page

KINDS = ("trade", "mark", "index", "premium")


class PerpStore:
    """A `CandleStore` plus a USDT-margined perpetual for each of its USDT pairs (the venues list these)."""

    def __init__(self, store: CandleStore):
        self._store = store
        self.perpetuals: tuple[str, ...] = tuple(
            perp_series.perpetual_of(symbol) for symbol in store.symbols if symbol.endswith("/USDT"))

    def page(self, symbol: str, *, timeframe_ms: int, start_ms: int | None, end_ms: int | None, limit: int,
             now_ms: int, kind: str = "trade") -> Page:
        """`CandleStore.page` for spot symbols; for perpetuals the same selection over the `kind` series."""
        if not perp_series.is_perpetual(symbol):
            return self._store.page(symbol, timeframe_ms=timeframe_ms, start_ms=start_ms, end_ms=end_ms, limit=limit,
                                    now_ms=now_ms)
        current_open = now_ms // timeframe_ms * timeframe_ms
        first, last = window(listed=perp_series.perp_listed_since_ms(symbol), timeframe_ms=timeframe_ms,
                             start_ms=start_ms, limit=limit,
                             end_ms=current_open if end_ms is None else min(end_ms, current_open))
        frame = perp_series.perp_candles(symbol, kind, first, last + timeframe_ms, timeframe_ms)
        closed = frame.is_empty() or frame["open_ms"][-1] < current_open
        final = (end_ms is not None and end_ms < current_open) or (
            start_ms is not None and frame.height == limit and closed)
        return Page(frame=frame, final=final)

    def price_decimals(self, symbol: str) -> int:
        """The decimals an altered perpetual price keeps: 8, the finest of its kinds (mark, index and premium have
        8; rounding a trade price there loses nothing), so a price offset never flattens a premium to 0."""
        if perp_series.is_perpetual(symbol):
            return perp_series.MARK_DECIMALS
        return self._store.price_decimals(symbol)

    def __getattr__(self, name: str):
        return getattr(self._store, name)


def perpetuals_of(store) -> tuple[str, ...]:
    """The perpetuals a venue built on `store` lists."""
    return store.perpetuals if isinstance(store, PerpStore) else ()


def window(*, listed: int, timeframe_ms: int, start_ms: int | None, end_ms: int, limit: int) -> tuple[int, int]:
    """The first and last open time of a page: from `start_ms` the oldest `limit` aligned opens up to `end_ms`,
    without a start the newest `limit` of them; never before `listed`. `first > last` when it holds none."""
    listed = -(-listed // timeframe_ms) * timeframe_ms
    last = end_ms // timeframe_ms * timeframe_ms
    if start_ms is None:
        return max(listed, last - (limit - 1) * timeframe_ms), last
    first = max(listed, -(-start_ms // timeframe_ms) * timeframe_ms)
    return first, min(last, first + (limit - 1) * timeframe_ms)


def funding(symbol: str, *, first_ms: int, last_ms: int, limit: int) -> pl.DataFrame:
    """The newest `limit` funding events of `symbol` scheduled in [first_ms, last_ms], oldest first, as
    `perp_series.funding_events` gives them. OKX and Bybit stamp an event at its scheduled time (`open_ms`): their
    recorded `fundingTime` / `fundingRateTimestamp` values are whole hours, unlike Binance's `fundingTime`."""
    if first_ms > last_ms:
        return perp_series.funding_events(symbol, 0, 0)
    return perp_series.funding_events(symbol, first_ms, last_ms + 1).tail(limit)


def open_interest(symbol: str, *, first_ms: int, last_ms: int, period_ms: int, limit: int,
                  offset_ms: int = 0) -> pl.DataFrame:
    """The newest `limit` open-interest samples of `symbol` at instants `offset_ms` past a multiple of `period_ms`
    in [first_ms, last_ms], oldest first (`open_ms`, `amount` in base, `value` in quote). Each is the 5-minute
    series at that instant, so every period's figures agree with the 5m ones."""
    stop = (last_ms - offset_ms) // period_ms * period_ms + offset_ms
    start = max(-(-(first_ms - offset_ms) // period_ms) * period_ms + offset_ms, stop - (limit - 1) * period_ms)
    samples = perp_series.open_interest(symbol, start, max(start, stop + 1))
    return samples.filter((pl.col("open_ms") - offset_ms) % period_ms == 0)
