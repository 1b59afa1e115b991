"""A realistic Binance spot market: a few hundred USDT pairs with their status and 24-hour quote volume.

The universe of the platform is resolved from a venue's listing (top pairs by 24-hour quote volume, trading ones
only), so the emulator has to list a market that looks like Binance's: hundreds of USDT pairs, real bases that are one
letter long (`W`, `S`) or start with digits (`1000SATS`), and some pairs that are listed but not trading (`HALT`
still carries the volume of the day before the halt, `BREAK` is a delisted pair with none). Everything is a pure
function of the symbol, so every process and every run sees the same market and the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from datafactory_assets.emulator.candles import delisted_at_ms, symbol_seed

# Real Binance spot bases, the first few the busiest (their volume is fixed, the rest hashed below them).
_BUSIEST = {"BTC": 2.0e9, "ETH": 1.2e9, "SOL": 6.0e8, "XRP": 4.0e8, "DOGE": 3.0e8, "BNB": 2.5e8}
_REAL_BASES = (
    "ADA", "TRX", "LINK", "AVAX", "DOT", "LTC", "BCH", "SHIB", "NEAR", "UNI", "APT", "ARB", "OP", "SUI", "PEPE", "W",
    "S", "1000SATS", "1000CAT", "1MBABYDOGE", "WIF", "TIA", "SEI", "INJ", "FET", "ATOM", "FIL", "ETC", "XLM", "HBAR",
    "ICP", "AAVE", "TON", "ENA", "JUP", "PYTH", "BONK", "FLOKI", "ORDI", "STX", "IMX", "GRT", "ALGO", "SAND", "MANA",
    "AXS", "CRV", "LDO", "RUNE", "EGLD", "KAVA", "CFX", "GALA", "1INCH", "ZRO", "ZK", "IO", "NOT", "BOME", "ETHFI",
    "REZ", "TNSR", "OMNI", "ENS", "DYDX", "GMX", "COMP", "SNX", "YFI", "SUSHI", "BAT", "ZEC", "DASH", "NEO", "QTUM",
    "VET", "THETA", "CHZ", "ENJ", "HOT", "ONE", "IOTA", "XTZ", "EOS", "KSM", "MINA", "FLOW", "ROSE", "CELO", "ZIL",
    "ANKR", "SKL", "STORJ", "RSR", "BAND", "OGN", "API3", "MASK", "LRC", "JASMY", "ACH", "ID", "ARKM", "WLD", "CYBER",
    "BLUR", "MEME", "ORCA", "ACE", "NFP", "AI", "XAI", "MANTA", "ALT", "DYM", "PIXEL", "STRK", "PORTAL", "AEVO",
    "SAGA", "TAO", "BB", "LISTA", "BANANA", "RENDER", "DOGS", "EIGEN", "CATI", "HMSTR", "NEIRO", "TURBO", "PNUT",
    "ACT", "USUAL", "PENGU", "TRUMP", "LAYER", "KAITO", "RED", "BERA", "VANA", "ME", "MOVE", "HYPER", "SIGN", "EPIC",
)
_HALTED = ("LUNA", "FTT", "ANC", "MIR")  # listed, not trading, still carrying yesterday's volume
_DELISTED = ("BCC", "VEN", "NPXS", "HC", "MCO", "STRAT", "BTT")  # listed as BREAK, no volume
_GENERATED = 220  # hashed three- to five-letter bases after the real ones
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Listed:
    """One pair of the venue's market: its canonical symbol, Binance's status, and its 24-hour quote volume."""

    symbol: str
    status: str
    quote_volume: float

    @property
    def trading(self) -> bool:
        return self.status == "TRADING"


def binance_market(extra_symbols: tuple[str, ...] = ()) -> tuple[Listed, ...]:
    """The emulated Binance spot market: `extra_symbols` (the emulator's own, e.g. ETH/BTC) trading, plus a few
    hundred USDT pairs, ordered by symbol as exchangeInfo lists them."""
    bases = [*_BUSIEST, *_REAL_BASES, *generated_bases()]
    listed = {f"{base}/USDT": Listed(f"{base}/USDT", "TRADING", _volume(base)) for base in bases}
    listed.update({f"{base}/USDT": Listed(f"{base}/USDT", "HALT", 5e8 + _volume(base)) for base in _HALTED})
    listed.update({f"{base}/USDT": Listed(f"{base}/USDT", "BREAK", 0.0) for base in _DELISTED})
    for symbol in extra_symbols:
        if symbol not in listed:
            listed[symbol] = Listed(symbol, status_of(symbol), _volume(symbol))
    return tuple(sorted(listed.values(), key=lambda item: item.symbol.replace("/", "")))


def status_of(symbol: str) -> str:
    """Binance's status of a pair the emulator serves candles for: `BREAK` once delisted, else `TRADING`."""
    return "BREAK" if delisted_at_ms(symbol) is not None else "TRADING"


@cache
def generated_bases() -> tuple[str, ...]:
    """The market's made-up bases (the others are real tickers), the same on every call."""
    return tuple(_generated_bases(_GENERATED, taken={*_BUSIEST, *_REAL_BASES, *_HALTED, *_DELISTED}))


def _volume(base: str) -> float:
    """A fixed 24-hour quote volume: the busiest pairs as set, the others log-uniform from 100k to 200M."""
    if base in _BUSIEST:
        return _BUSIEST[base]
    fraction = (symbol_seed(base + "/USDT") >> 11) * 2.0**-53
    return round(10.0 ** (5.0 + 3.3 * fraction), 2)


def _generated_bases(count: int, *, taken: set[str]) -> list[str]:
    """`count` distinct made-up bases, the same on every call."""
    bases: list[str] = []
    index = 0
    while len(bases) < count:
        seed = symbol_seed(f"base-{index}")
        index += 1
        name = "".join(_LETTERS[(seed >> (5 * i)) % 26] for i in range(3 + seed % 3))
        if name not in taken:
            taken.add(name)
            bases.append(name)
    return bases
