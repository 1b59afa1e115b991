"""Exchange quirks as data: one generic code path reads these instead of branching per venue.

What a venue does per dataset (rows per request, cost, depth) is in that dataset's declaration (`datasets/`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class VenueQuirks:
    """What holds for a whole venue, whatever market or dataset is asked of it: its request budget and how it bans.
    How ccxt reaches each of its markets is `VenueMarket`; what differs per dataset (rows per request, their cost,
    depth, the answers' shape) is the dataset's `VenueEndpoint`."""

    exchange_id: str
    budget: int = 600  # the venue's request budget per window, in its own unit (Binance: request weight)
    budget_window_s: float = 60.0
    markets_weight: int = 1  # what loading the market list costs
    used_budget_header: str | None = None  # where the venue says how much of this window's budget is spent
    # HTTP statuses by which the venue refuses our IP for a while (beyond 418/451), with the least ban it imposes in
    # seconds (0: it names none): a ban is waited out, never retried into.
    ban_statuses: Mapping[int, float] = field(default_factory=dict)
    ban_note: str = ""  # what such a refusal means at this venue, for the one log line
    zero_volume_is_no_trades: bool = True  # False: a 0 volume means "not reported" (Yahoo's intraday bars)
    hole_reason: str | None = None  # what a minute missing inside its answer means there, where the venue says


# Binance publishes a kline for every minute of a trading pair, one without trades included (open = high = low = close,
# volume 0), so a minute it lacks is a minute the pair did not trade at all.
_BINANCE_HOLE = "Binance publishes a kline for every minute, trades or not: a trading halt or maintenance"

VENUES: dict[str, VenueQuirks] = {
    "binance": VenueQuirks(
        exchange_id="binance",
        budget=6000,  # request weight per minute per IP
        markets_weight=20,  # exchangeInfo
        used_budget_header="X-MBX-USED-WEIGHT-1M",  # counts every client on our IP, not only our processes
        # "HTTP 403 return code is used when a WAF (Web Application Firewall) rule has been violated. This can
        # indicate a rate limit violation or a security block" (spot API docs, HTTP Return Codes); no ban time given.
        ban_statuses={403: 0.0},
        ban_note="Binance's firewall (WAF) blocks us: a rate-limit violation or a security block",
        hole_reason=_BINANCE_HOLE,
    ),
    # Binance's bulk archive (data.binance.vision): no published limit (a CDN), so a modest budget.
    "binance_archive": VenueQuirks(exchange_id="binance_archive", budget=20, budget_window_s=1,
                                   hole_reason=_BINANCE_HOLE),
    # OKX: 20 history requests per 2 s per IP.
    "okx": VenueQuirks(exchange_id="okx", budget=20, budget_window_s=2),
    # Bybit v5: 600 requests per 5 s per IP. Over that, or from a blocked country, its gateway
    # answers HTTP 403 ("access too frequent"): "terminate all HTTP sessions and wait for at least 10 minutes"
    # (Bybit API docs, Rate Limit); ccxt calls it RateLimitExceeded, which must not make us retry.
    "bybit": VenueQuirks(exchange_id="bybit", budget=600, budget_window_s=5,
                         ban_statuses={403: 600.0},
                         ban_note="Bybit bans our IP (access too frequent, or a blocked country)"),
    # Kraken: about one public request per second.
    "kraken": VenueQuirks(exchange_id="kraken", budget=1, budget_window_s=1),
    # Coinbase Advanced Trade: 10 public requests per second.
    "coinbase": VenueQuirks(exchange_id="coinbase", budget=10, budget_window_s=1),
    # Yahoo through yfinance: no published limit, so a conservative budget (a failed chart call costs two requests);
    # its depth and span rules per interval live in `yahoo_source.INTERVALS`.
    # Its intraday crypto bars report volume 0 for about half of them, prices moving (yfinance issues #2686, #1934).
    "yahoo": VenueQuirks(exchange_id="yahoo", budget=30, zero_volume_is_no_trades=False),
}

# Price references: guarded like the venues (retry, breaker, budget), never candle sources.
REFERENCES: dict[str, VenueQuirks] = {
    # CoinGecko's public and demo plans: about 30 calls per minute; it serves prices, not candles.
    "coingecko": VenueQuirks(exchange_id="coingecko", budget=30),
}


@dataclass(frozen=True)
class VenueMarket:
    """How ccxt reaches one market type of a venue: the ccxt class, and the options that make it load that market's
    list alone (a run's start-up then asks only for what it collects). The emulator serves each class under its
    id, as the venue serves it from its own host (`/binanceusdm/fapi/...` for fapi.binance.com). `budget`: the
    market's own request budget where the venue keeps it apart from its other markets' (same unit and window as the
    venue's); such a market is budgeted and guarded under its ccxt class (`budget_key`)."""

    ccxt_class: str
    client_options: Mapping = field(default_factory=dict)
    budget: int | None = None


# Per ccxt venue, per ccxt market type ("spot", "swap": USDⓈ-M perpetuals, see `instruments`). The option names are
# those of the installed ccxt's `fetch_markets` (binance.py, okx.py, bybit.py), checked by the venues' tests.
MARKETS: dict[str, dict[str, VenueMarket]] = {
    # Binance serves spot and USDⓈ-M futures from different hosts (api / fapi), which ccxt splits into two classes;
    # neither loads the currency list (it needs an API key). USDⓈ-M keeps its own weight budget: its exchangeInfo's
    # rateLimits state REQUEST_WEIGHT 2400 per minute per IP (USDⓈ-M docs, Exchange Information), spot's 6000.
    "binance": {"spot": VenueMarket("binance", {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False}),
                "swap": VenueMarket("binanceusdm", {"fetchMarkets": {"types": ["linear"]}, "fetchCurrencies": False},
                                    budget=2400)},
    # OKX's instType SWAP holds its perpetuals (USDT- and coin-margined alike; the instrument picks one).
    "okx": {"spot": VenueMarket("okx", {"fetchMarkets": {"types": ["spot"]}}),
            "swap": VenueMarket("okx", {"fetchMarkets": {"types": ["swap"]}})},
    # Bybit v5's category linear: USDT and USDC contracts.
    "bybit": {"spot": VenueMarket("bybit", {"fetchMarkets": {"types": ["spot"]}}),
              "swap": VenueMarket("bybit", {"fetchMarkets": {"types": ["linear"]}})},
    "kraken": {"spot": VenueMarket("kraken")},
    "coinbase": {"spot": VenueMarket("coinbase")},
}


def venue_market(venue: str, market: str) -> VenueMarket:
    """How ccxt reaches `venue`'s `market`; ValueError in one line when the venue has no such market here."""
    try:
        return MARKETS[venue][market]
    except KeyError:
        serving = ", ".join(name for name, markets in MARKETS.items() if market in markets)
        raise ValueError(f"{venue} has no {market} market here; venues that have one: {serving}") from None


def reaches(venue: str, market: str) -> bool:
    """Whether `venue` can be asked for `market`'s data: a ccxt venue only for the market types it has in `MARKETS`
    (Kraken and Coinbase: spot only); a source without ccxt markets (the archive, Yahoo) for any, leaving what it
    serves to each dataset's endpoints."""
    return venue not in MARKETS or market in MARKETS[venue]


def budget_key(venue: str, market: str) -> str:
    """The name `venue`'s `market` is budgeted and guarded under (limiter and breaker): its ccxt class where that
    market keeps a budget of its own (`binanceusdm`: Binance's spot limits, bans and outages say nothing of it),
    else the venue's (OKX and Bybit count spot and swap requests against one budget per IP)."""
    vm = MARKETS.get(venue, {}).get(market)
    return vm.ccxt_class if vm is not None and vm.budget is not None else venue


def market_budget(venue: str, market: str) -> int:
    """The request budget of `venue`'s `market`: its own where it keeps one, else the venue's."""
    vm = MARKETS.get(venue, {}).get(market)
    return vm.budget if vm is not None and vm.budget is not None else quirks(venue).budget


UNREPORTED_ZERO_VOLUME = frozenset(name for name, venue in VENUES.items() if not venue.zero_volume_is_no_trades)


def quirks(name: str) -> VenueQuirks:
    """A venue's or a price reference's quirks."""
    return VENUES[name] if name in VENUES else REFERENCES[name]
