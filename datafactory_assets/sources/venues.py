"""Exchange quirks as data: one generic code path reads these instead of branching per venue."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class VenueQuirks:
    """What a venue allows (candles per request) and the ccxt options that keep start-up to the calls we need."""

    exchange_id: str
    max_candles_per_request: int
    client_options: dict = field(default_factory=dict)


VENUES: dict[str, VenueQuirks] = {
    # Spot klines: 1000 candles per request. Only spot markets are loaded, and no currency list (it needs an API key).
    "binance": VenueQuirks(
        exchange_id="binance",
        max_candles_per_request=1000,
        client_options={"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False},
    ),
}
