"""What is collected, named as ccxt names it: an instrument is a unified symbol, and its market type is part of it.

`BTC/USDT` is a spot pair; `BTC/USDT:USDT` a USDⓈ-M perpetual (ccxt's market type "swap"): after the colon the
currency the contract settles in, which for a linear contract is its quote. Those two kinds are collected. An
inverse contract (`BTC/USD:BTC`, settled in the base) and a dated future or option (`BTC/USDT:USDT-250328`, an
expiry after the settle currency) are refused by name, so that a typo cannot silently become an instrument no venue
adapter serves.

Both kinds share an asset name (`btc_usdt`): the dataset is the first part of an asset key, and perpetuals collect
datasets of their own, so `candles/btc_usdt` (spot) and `perp_candles/btc_usdt` (the perpetual) never collide.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MARKETS = {"spot": "spot pair", "swap": "USDⓈ-M perpetual"}  # ccxt's market type -> what a person calls one
COLLECTED = "only spot pairs (BASE/QUOTE) and USDⓈ-M perpetuals (BASE/QUOTE:QUOTE) are collected"

# Real bases include W, S, 1000SATS and 1000PEPE; a quote or settle currency has two letters at least.
_CURRENCY = r"[A-Z0-9]{2,15}"
_UNIFIED = re.compile(rf"^(?P<base>[A-Z0-9]{{1,20}})/(?P<quote>{_CURRENCY})"
                      rf"(?::(?P<settle>{_CURRENCY})(?:-(?P<expiry>[A-Z0-9-]+))?)?$")


class InstrumentError(ValueError):
    """A name that is not an instrument the platform collects; `problem` says why without repeating the name."""

    def __init__(self, symbol: str, problem: str):
        super().__init__(f"{symbol} {problem}")
        self.symbol = symbol
        self.problem = problem


@dataclass(frozen=True)
class Instrument:
    """One collected instrument: its ccxt unified `symbol`, its currencies and its ccxt market type ("spot" or
    "swap"); `settle` is None for a spot pair."""

    symbol: str
    base: str
    quote: str
    settle: str | None
    market: str

    @classmethod
    def parse(cls, symbol: str) -> Instrument:
        """The instrument `symbol` names; InstrumentError for a malformed name, an inverse contract or a dated
        future."""
        match = _UNIFIED.match(symbol)
        if match is None:
            example = '"BTC/USDT:USDT"' if ":" in symbol else '"BTC/USDT"'
            form = "BASE/QUOTE:QUOTE" if ":" in symbol else "BASE/QUOTE"
            raise InstrumentError(symbol, f"is malformed: write {form} in capitals, such as {example}")
        base, quote, settle, expiry = match.group("base", "quote", "settle", "expiry")
        if expiry is not None:
            raise InstrumentError(symbol, f"is a dated future or an option (expiry {expiry}): {COLLECTED}")
        if settle is not None and settle != quote:
            raise InstrumentError(symbol, f"is an inverse contract (settled in {settle}, not in its quote {quote}): "
                                          f"{COLLECTED}")
        return cls(symbol=symbol, base=base, quote=quote, settle=settle, market="spot" if settle is None else "swap")

    @property
    def asset_name(self) -> str:
        """`BTC/USDT` and `BTC/USDT:USDT` -> `btc_usdt`, the last part of the asset key; the dataset, the first
        part, tells the spot pair from the perpetual."""
        return f"{self.base}_{self.quote}".lower()

    @property
    def kind(self) -> str:
        """What a person calls it: "spot pair" or "USDⓈ-M perpetual"."""
        return MARKETS[self.market]
