"""Exchange quirks as data: one generic code path reads these instead of branching per venue."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class VenueQuirks:
    """What a venue allows (candles per request) and the ccxt options that keep start-up to the calls we need."""

    exchange_id: str
    max_candles_per_request: int
    client_options: dict = field(default_factory=dict)
    budget: int = 600  # the venue's request budget per window, in its own unit (Binance: request weight)
    budget_window_s: float = 60.0
    request_weight: int = 1  # what one candle request costs of that budget
    markets_weight: int = 1  # what loading the market list costs
    history_candles: int | None = None  # how far back the venue serves candles; None: its whole history
    used_budget_header: str | None = None  # where the venue says how much of this window's budget is spent


VENUES: dict[str, VenueQuirks] = {
    # Spot klines: 1000 candles per request. Only spot markets are loaded, and no currency list (it needs an API key).
    "binance": VenueQuirks(
        exchange_id="binance",
        max_candles_per_request=1000,
        client_options={"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False},
        budget=6000,  # request weight per minute per IP
        request_weight=2,  # klines
        markets_weight=20,  # exchangeInfo
        used_budget_header="X-MBX-USED-WEIGHT-1M",  # counts every client on our IP, not only our processes
    ),
    # Binance's bulk archive (data.binance.vision): one month or day file per download, a checksum and a zip (2
    # requests); no published limit (a CDN), so a modest budget.
    "binance_archive": VenueQuirks(exchange_id="binance_archive", max_candles_per_request=31 * 1440, budget=20,
                                   budget_window_s=1, request_weight=2),
    # OKX: 300 per request from `candles` (recent), 100 from `history-candles`; 20 requests per 2 s per IP.
    "okx": VenueQuirks(exchange_id="okx", max_candles_per_request=100, budget=20, budget_window_s=2,
                       client_options={"fetchMarkets": {"types": ["spot"]}}),
    # Bybit v5: 1000 per request, 600 requests per 5 s per IP.
    "bybit": VenueQuirks(exchange_id="bybit", max_candles_per_request=1000, budget=600, budget_window_s=5,
                         client_options={"fetchMarkets": {"types": ["spot"]}}),
    # Kraken serves only its latest 720 candles of an interval; about one public request per second.
    "kraken": VenueQuirks(exchange_id="kraken", max_candles_per_request=720, budget=1, budget_window_s=1,
                          history_candles=720),
    # Coinbase Advanced Trade: 300 candles per request; 10 public requests per second.
    "coinbase": VenueQuirks(exchange_id="coinbase", max_candles_per_request=300, budget=10, budget_window_s=1),
    # Yahoo through yfinance: no published limit, so a conservative budget (a failed chart call costs two requests);
    # its depth and span rules per interval live in `yahoo_source.INTERVALS`.
    "yahoo": VenueQuirks(exchange_id="yahoo", max_candles_per_request=7 * 1440, budget=30),
}

# Price references: guarded like the venues (retry, breaker, budget), never candle sources.
REFERENCES: dict[str, VenueQuirks] = {
    # CoinGecko's public and demo plans: about 30 calls per minute; it serves prices, not candles.
    "coingecko": VenueQuirks(exchange_id="coingecko", max_candles_per_request=0, budget=30),
}


def quirks(name: str) -> VenueQuirks:
    """A venue's or a price reference's quirks."""
    return VENUES[name] if name in VENUES else REFERENCES[name]
