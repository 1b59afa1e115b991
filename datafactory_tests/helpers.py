"""Small builders the tests share."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from datafactory_assets.settings import SymbolSettings


def symbol_settings(symbol: str = "BTC/USDT", *, start: datetime = datetime(2024, 3, 1, tzinfo=UTC),
                    timeframe: str = "1m") -> SymbolSettings:
    return SymbolSettings(symbol=symbol, timeframe=timeframe, start=start, sources=("binance",))


def ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware or naive-UTC datetime."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def universe_config(*, start: str, top: int, more: str = "") -> str:
    """A datafactory.toml whose symbols are Binance's top `top` USDT pairs (from `start`, Binance only), plus `more`
    TOML after the `[universe]` table."""
    return (f'[defaults]\nstart = "{start}"\nsources = ["binance"]\n'
            f'[universe]\nvenue = "binance"\nquote = "USDT"\ntop = {top}\n{more}')


def open_hour_lasting(seconds: float) -> datetime:
    """The still-open hour, once at least `seconds` of it remain (waiting for the next hour when fewer do), so that a
    test naming it is not undone by the hour closing while it runs."""
    from datafactory_assets.hourly import HOUR, open_hour

    now = datetime.now(UTC)
    left = (open_hour(now) + HOUR - now).total_seconds()
    if left < seconds:
        time.sleep(left + 0.5)
    return open_hour()
