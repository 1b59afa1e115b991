"""Per-venue price offsets: a venue whose every OHLC price is off by a fixed number of basis points.

A cross-source accuracy check needs a venue that disagrees with the others by a known amount. An offset scales the
prices of every page the venue serves (candles, CoinGecko's price points, Yahoo's quote), rounded to the symbol's
price tick, and nothing else: volumes, timestamps and the other venues stay as they are. It is deterministic and
lasts until cleared, so an offset venue's pages stay cacheable under a cache key that names the offset. Pages that
are not candles (funding events, open interest) pass unchanged.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Collection

import polars as pl

from datafactory_assets.emulator.faults import AlteredStore
from datafactory_assets.emulator.venue import Venue
from datafactory_assets.frames import PRICE_COLUMNS

MAX_OFFSET_BPS = 5_000.0  # half the price either way; beyond that the OHLC of a venue is no longer the same market


def parse_offset_arg(text: str, *, venues: Collection[str]) -> tuple[str, float]:
    """`okx=150` -> ("okx", 150.0), the CLI's `--price-offset` value; ValueError names what is wrong."""
    venue, sep, bps = text.partition("=")
    try:
        if not sep:
            raise ValueError
        amount = float(bps)
    except ValueError:
        raise ValueError(f"bad price offset {text!r}: write VENUE=BPS, e.g. okx=150 or kraken=-40") from None
    check_offset(venue.strip(), amount, venues=venues)
    return venue.strip(), amount


def check_offset(venue, bps, *, venues: Collection[str]) -> None:
    """ValueError unless `venue` is one of `venues` and `bps` a finite number within +-MAX_OFFSET_BPS."""
    if venue not in venues:
        raise ValueError(f"unknown venue {venue!r} for a price offset (valid: {', '.join(sorted(venues))})")
    if isinstance(bps, bool) or not isinstance(bps, int | float) or not math.isfinite(bps) \
            or abs(bps) > MAX_OFFSET_BPS:
        raise ValueError(f"price offset for {venue} must be a number of basis points within "
                         f"+-{MAX_OFFSET_BPS:g}, got {bps!r}")


class PriceOffsets:
    """The offsets of one emulator, venue id -> basis points, safe to use from the server's request threads."""

    def __init__(self, venues: Collection[str]):
        self._venues = tuple(venues)
        self._bps: dict[str, float] = {}
        self._lock = threading.Lock()

    def set(self, venue: str, bps) -> None:
        """Offset `venue`'s prices by `bps` basis points from now on (0 removes it); ValueError names a bad venue or
        amount."""
        check_offset(venue, bps, venues=self._venues)
        with self._lock:
            if bps:
                self._bps[venue] = float(bps)
            else:
                self._bps.pop(venue, None)

    def clear(self, venue: str | None = None) -> None:
        with self._lock:
            if venue is None:
                self._bps.clear()
            else:
                self._bps.pop(venue, None)

    def active(self) -> dict[str, float]:
        with self._lock:
            return dict(self._bps)

    def get(self, venue: str) -> float:
        with self._lock:
            return self._bps.get(venue, 0.0)


PREMIUM_DECIMALS = 8


def priced(venue: Venue, bps: float) -> Venue:
    """`venue` serving its prices `bps` basis points off (itself when there is no offset)."""
    if not bps:
        return venue
    factor = 1.0 + bps / 10_000

    def scale(symbol: str, frame: pl.DataFrame, series: str) -> pl.DataFrame:
        # A premium index is a ratio around 1e-4, which a price tick would round to 0.
        decimals = PREMIUM_DECIMALS if series == "premium" else venue.store.price_decimals(symbol)
        return frame.with_columns((pl.col(c) * factor).round(decimals) for c in PRICE_COLUMNS if c in frame.columns)

    return venue.with_store(AlteredStore(venue.store, scale, keeps_final=True))
