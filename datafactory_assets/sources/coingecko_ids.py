"""Which CoinGecko coin each base of a universe is, decided once by `datafactory universe --refresh`.

CoinGecko names coins by id (`bitcoin`); a venue names them by symbol (`BTC`), and symbols are not unique at
CoinGecko: `/coins/list` ("all the supported coins on CoinGecko with coins ID, name and symbol",
docs.coingecko.com/v3.0.1/reference/coins-list) holds impostor tokens, bridged and wrapped copies under the same
symbol as the coin a venue trades. Choosing by market cap alone would pick an impostor whose reported cap is larger
than the real coin's; a wrong coin would then fail accuracy checks, or worse, pass them by chance. So a coin is
chosen by what the venue itself shows: its last price. `/coins/markets` (up to 250 ids a request,
docs.coingecko.com/demo/reference/coins-markets) gives every candidate's `current_price` and `market_cap`; a
candidate is the venue's coin when its price is within `PRICE_AGREEMENT` of the venue's, and when several agree (a
bridged copy), only one with at least `DOMINANCE` times the market cap of every other agreeing one is. Anything else
(no coin with that symbol, none at the venue's price, two alike) gets no id, with the reason kept: the accuracy check
then says "no CoinGecko id", never compares against a wrong coin.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from datafactory_assets.sources.coingecko_source import MAX_IDS, CoinGeckoReference, vs_currency
from datafactory_assets.universe import CoinIds

PRICE_AGREEMENT = 0.05  # a coin's price within 5% of the venue's last price: the same asset, an hour's move apart
DOMINANCE = 10.0  # among coins at the same price, the one with ten times the cap of each other one is the original


def resolve_coin_ids(last_prices: Mapping[str, float], *, quote: str,
                     reference: CoinGeckoReference) -> CoinIds:
    """The CoinGecko id of each base of `last_prices` (base -> the venue's last price in `quote`): one
    `/coins/list` request, then `/coins/markets` for the candidates, `MAX_IDS` a request. Raises `SourceError` when
    CoinGecko cannot answer."""
    candidates: dict[str, list[str]] = defaultdict(list)
    wanted = {base.lower(): base for base in last_prices}
    for coin in reference.coins_list():
        base = wanted.get(str(coin.get("symbol", "")).lower())
        if base is not None:
            candidates[base].append(coin["id"])
    ids = sorted({coin_id for found in candidates.values() for coin_id in found})
    markets = {row["id"]: row for start in range(0, len(ids), MAX_IDS)
               for row in reference.coin_markets(ids[start:start + MAX_IDS], currency=vs_currency(quote))}
    chosen = CoinIds()
    for base, price in last_prices.items():
        coin_id, reason = _choose(candidates.get(base, []), markets, price=price)
        if coin_id:
            chosen.ids[base] = coin_id
        else:
            chosen.unresolved[base] = reason
    return chosen


def _choose(candidates: list[str], markets: Mapping[str, dict], *, price: float) -> tuple[str | None, str]:
    """The one candidate at the venue's price (and, among several, the dominant one), or None and why."""
    if not candidates:
        return None, "no coin with this symbol on CoinGecko"
    agreeing = sorted((row for coin_id in candidates if (row := markets.get(coin_id))
                       and _agrees(row.get("current_price"), price)),
                      key=lambda row: -(row.get("market_cap") or 0))
    if not agreeing:
        return None, f"none of its {len(candidates)} CoinGecko coins ({', '.join(sorted(candidates))}) is priced " \
                     f"within {PRICE_AGREEMENT:.0%} of the venue"
    first, rest = agreeing[0], agreeing[1:]
    if rest and (first.get("market_cap") or 0) < DOMINANCE * (rest[0].get("market_cap") or 0):
        return None, f"{len(agreeing)} CoinGecko coins at the venue's price, none dominant: " + \
                     ", ".join(row["id"] for row in agreeing)
    return first["id"], ""


def _agrees(theirs, ours: float) -> bool:
    return isinstance(theirs, int | float) and ours > 0 and abs(theirs / ours - 1) <= PRICE_AGREEMENT
