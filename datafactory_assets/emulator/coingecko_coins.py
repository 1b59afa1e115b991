"""CoinGecko's coin directory over the emulated market: which coins exist, with which symbol, priced from which pair.

The real directory (`/coins/list`, over 17,000 coins) spells symbols in lower case and does not keep them unique:
many tokens share a ticker with a famous coin (`btc`, `eth`, `sol`), bridged and wrapped copies share it at the same
price, and a venue lists tokens CoinGecko has never listed. The emulated directory has each of those, as a pure
function of the listing, so that a client choosing a coin by symbol meets the ambiguity it meets for real:

- every listed USDT base (not delisted) has its coin, priced from that pair (`bitcoin` from BTC/USDT), except one
  made-up base in eight, which CoinGecko does not list;
- `IMPOSTORS`, and one other base in six, have a second coin with the same symbol at another price, whose huge
  supply reports a market cap larger than the real coin's (so a choice by market cap alone picks it);
- `TWINS` have a second coin at the same price with a market cap of the same order: no one can tell them apart by
  price or size;
- `BRIDGED` have a bridged copy at the same price with a thousandth of the cap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from datafactory_assets.emulator.candles import symbol_seed
from datafactory_assets.emulator.listing import Listed, generated_bases

# The coins the previous emulator knew, by their real ids, names and (fixed) circulating supply.
KNOWN: dict[str, tuple[str, str, float]] = {
    "BTC": ("bitcoin", "Bitcoin", 19.8e6), "ETH": ("ethereum", "Ethereum", 120.4e6),
    "SOL": ("solana", "Solana", 470e6), "ADA": ("cardano", "Cardano", 35.5e9),
    "BNB": ("binancecoin", "BNB", 146e6), "XRP": ("ripple", "XRP", 56e9), "DOGE": ("dogecoin", "Dogecoin", 146e9),
}
IMPOSTORS = ("BTC", "ETH", "SOL", "W", "S", "AI", "ME", "ID", "ONE", "ACT")
TWINS = ("ALT", "EPIC", "SIGN")
BRIDGED = ("ETH", "LINK", "UNI")


@dataclass(frozen=True)
class Coin:
    """One coin of the directory: priced `price_factor` times its pair's price, with a fixed circulating supply."""

    id: str
    symbol: str
    name: str
    pair: str
    price_factor: float = 1.0
    supply: float = 1e9


def coin_directory(listing: Iterable[Listed]) -> tuple[Coin, ...]:
    """The directory for a venue's listing, ordered by id as `/coins/list` answers."""
    coins: list[Coin] = []
    unlisted = set(unlisted_bases())
    for item in listing:
        base, quote = item.symbol.split("/")
        if quote == "USDT" and item.status != "BREAK" and base not in unlisted:
            coins.extend(_coins_of(base, item.symbol))
    return tuple(sorted(coins, key=lambda coin: coin.id))


def unlisted_bases() -> tuple[str, ...]:
    """The made-up bases CoinGecko does not list: one in eight."""
    return tuple(base for base in generated_bases() if _fraction(base, "listed") < 1 / 8)


def _coins_of(base: str, pair: str) -> list[Coin]:
    coin_id, name, supply = KNOWN.get(base) or (base.lower(), base.title(), 10 ** (7 + 4 * _fraction(base, "supply")))
    coins = [Coin(coin_id, base.lower(), name, pair, supply=supply)]
    if base in IMPOSTORS or _fraction(base, "impostor") < 1 / 6:
        factor = 0.002 + 0.3 * _fraction(base, "factor")  # far from the real price, either way of the factor
        coins.append(Coin(f"{coin_id}-inu", base.lower(), f"{name} Inu", pair, price_factor=factor, supply=1e12))
    if base in TWINS:
        coins.append(Coin(f"{coin_id}-protocol", base.lower(), f"{name} Protocol", pair, supply=supply / 2))
    if base in BRIDGED:
        coins.append(Coin(f"bridged-{coin_id}", base.lower(), f"Bridged {name}", pair, supply=supply / 1000))
    return coins


def _fraction(base: str, stream: str) -> float:
    """A fixed number in [0, 1) per base and purpose."""
    return (symbol_seed(f"coingecko:{stream}:{base}") >> 11) * 2.0**-53
