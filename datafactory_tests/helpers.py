"""Small builders the tests share."""

from __future__ import annotations

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
