"""A universe declared by rank instead of by list: a venue's top pairs of one quote currency by 24-hour quote volume.

Ranking asks the venue (its markets and 24-hour tickers), so it is a command, `datafactory universe --refresh`,
never part of loading the code location: the ranking is written to a JSON file beside the configuration, which every
process then reads the same way, offline and fast. The file records when and from where it was resolved, and the
CoinGecko id of each ranked coin (`coingecko`), so the accuracy checks of a whole universe know their reference
coins without asking CoinGecko at load.

A universe is spot pairs only (it reads the venue's spot markets); perpetuals are declared one by one in `[symbols]`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REFRESH_COMMAND = "datafactory universe --refresh"
RANKABLE_VENUES = ("binance", "okx", "bybit", "kraken", "coinbase")  # ccxt venues with 24-hour tickers


class UniverseError(ValueError):
    """The universe's cache file is missing, unreadable or resolved for another declaration."""


@dataclass(frozen=True)
class UniverseSpec:
    """`[universe]`: the `top` spot pairs quoted in `quote` on `venue`, ranked into `cache_path`."""

    venue: str
    quote: str
    top: int
    cache_path: Path


@dataclass(frozen=True)
class CoinIds:
    """Per base, the CoinGecko id chosen (`ids`) or why none was (`unresolved`); `error` when CoinGecko could not
    be asked at all."""

    ids: dict[str, str] = field(default_factory=dict)
    unresolved: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    def summary(self) -> str:
        """One line for a person: how many coins have an id, and which have none."""
        if self.error:
            return f"CoinGecko ids not resolved ({self.error}): accuracy checks of coins without one stay unverified"
        if not self.ids and not self.unresolved:
            return f"CoinGecko ids: none cached yet (`{REFRESH_COMMAND}` resolves them)"
        return (f"CoinGecko ids: {len(self.ids)} of {len(self.ids) + len(self.unresolved)} coins; without one "
                f"(accuracy unverified): {', '.join(sorted(self.unresolved)) or 'none'}")


def cached_symbols(spec: UniverseSpec) -> tuple[str, ...]:
    """The top `spec.top` symbols of the cache file, busiest first; a file ranked for a different venue or quote, or
    for fewer pairs, is refused with the command that refreshes it."""
    try:
        cache = json.loads(spec.cache_path.read_text())
        declared, ranked = (cache["venue"], cache["quote"], cache["top"]), list(cache["symbols"])
    except FileNotFoundError:
        raise UniverseError(f"the [universe] is not resolved yet ({spec.cache_path} is missing): run "
                            f"`{REFRESH_COMMAND}`") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise UniverseError(f"{spec.cache_path} is not a universe file ({exc}): run `{REFRESH_COMMAND}`") from None
    if declared[:2] != (spec.venue, spec.quote) or declared[2] < spec.top:
        raise UniverseError(f"{spec.cache_path} ranks the top {declared[2]} {declared[1]} pairs of {declared[0]}, "
                            f"the [universe] asks for the top {spec.top} {spec.quote} pairs of {spec.venue}: run "
                            f"`{REFRESH_COMMAND}`")
    return tuple(ranked[: spec.top])


def resolve(spec: UniverseSpec, *, emulator_url: str | None, well_formed) -> list[tuple[str, float, float]]:
    """The venue's active spot pairs quoted in `spec.quote`, by 24-hour quote volume, busiest first, at most
    `spec.top`, each with its volume and last price, through the real ccxt client (markets, then every ticker in one
    request). Pairs `well_formed` refuses (names the configuration could not hold) are left out."""
    from datafactory_assets.sources.ccxt_source import CcxtCandleSource

    exchange = CcxtCandleSource(spec.venue, emulator_url=emulator_url).exchange
    markets = exchange.load_markets()
    eligible = [symbol for symbol, market in markets.items()
                if market.get("spot") and market.get("active") and market.get("quote") == spec.quote
                and well_formed(symbol)]
    tickers = {symbol: tickers_row or {} for symbol, tickers_row in exchange.fetch_tickers().items()}
    ranked = [(symbol, float(tickers.get(symbol, {}).get("quoteVolume") or 0.0),
               float(tickers.get(symbol, {}).get("last") or 0.0)) for symbol in eligible]
    return sorted(ranked, key=lambda item: (-item[1], item[0]))[: spec.top]


def resolve_coin_ids(spec: UniverseSpec, ranked: list[tuple[str, float, float]], *, emulator_url: str | None,
                     api_key: str | None) -> CoinIds:
    """The CoinGecko id of each ranked pair's base, chosen by the venue's last price (`sources/coingecko_ids.py`);
    when CoinGecko cannot answer, none, with the reason: the ranking stands without them."""
    from datafactory_assets.sources.base import SourceError
    from datafactory_assets.sources.coingecko_ids import resolve_coin_ids as resolve_ids
    from datafactory_assets.sources.coingecko_source import CoinGeckoReference

    last_prices = {symbol.split("/")[0]: last for symbol, _, last in ranked}
    try:
        return resolve_ids(last_prices, quote=spec.quote,
                           reference=CoinGeckoReference(emulator_url=emulator_url, api_key=api_key))
    except SourceError as exc:
        return CoinIds(error=str(exc))


def cached_coin_ids(spec: UniverseSpec | None) -> CoinIds:
    """The CoinGecko ids the cache file holds (none without a [universe], or in a file written before they were)."""
    if spec is None:
        return CoinIds()
    try:
        section = json.loads(spec.cache_path.read_text()).get("coingecko") or {}
        return CoinIds(ids=dict(section.get("ids") or {}), unresolved=dict(section.get("unresolved") or {}),
                       error=section.get("error"))
    except (OSError, ValueError, AttributeError, TypeError):
        return CoinIds()


def write_cache(spec: UniverseSpec, ranked: list[tuple[str, float, float]], *, source: str,
                coin_ids: CoinIds | None = None) -> None:
    """Write the ranking and the coins' CoinGecko ids (atomically: a process loading meanwhile reads the old file or
    the new one)."""
    payload = {
        "venue": spec.venue, "quote": spec.quote, "top": spec.top, "source": source,
        "resolved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "symbols": [symbol for symbol, _, _ in ranked],
        "quote_volume_24h": {symbol: volume for symbol, volume, _ in ranked},
        "coingecko": vars(coin_ids or CoinIds()),
    }
    spec.cache_path.parent.mkdir(parents=True, exist_ok=True)
    partial = spec.cache_path.with_name(spec.cache_path.name + ".partial")
    partial.write_text(json.dumps(payload, indent=1) + "\n")
    partial.replace(spec.cache_path)
