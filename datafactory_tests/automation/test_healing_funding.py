"""The healing sensor filling and healing funding events, evaluated against a real Dagster instance with the runs it
asks for executed for real through the `funding_rates` asset, the real ccxt client, the emulator and a DuckDB file."""

import time
from datetime import UTC, datetime, timedelta

import dagster as dg

from datafactory_assets.datasets import FUNDING_RATES
from datafactory_assets.emulator.perp_series import funding_events
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.settings import SymbolSettings
from datafactory_tests.automation.test_healing import RANGE_START, Healer, settings_for
from datafactory_tests.helpers import ms

EIGHT_HOURS, EIGHT_HOURS_MS = timedelta(hours=8), 28_800_000


def closed_hour() -> datetime:
    """The start of the current hour, after waiting out an hour about to close: the sensor's `until` must not move
    while a test runs (a closing hour may hold a due event)."""
    now = datetime.now(UTC)
    if now.minute >= 58:
        time.sleep(60 * (60 - now.minute) - now.second + 1)
        now = datetime.now(UTC)
    return now.replace(minute=0, second=0, microsecond=0)


def stored_times(warehouse, symbol: str) -> list[int]:
    with warehouse.connect(read_only=True) as conn:
        return [t for (t,) in conn.execute("SELECT epoch_ms(ts) FROM funding_rates WHERE symbol = ? ORDER BY ts",
                                           [symbol]).fetchall()]


def test_a_tick_fills_funding_history_then_a_lost_event_is_asked_for_as_its_hour_alone(emulator, warehouse):
    until = closed_hour()
    start = datetime.fromtimestamp(ms(until) // EIGHT_HOURS_MS * EIGHT_HOURS_MS / 1000, UTC) - 3 * EIGHT_HOURS
    symbol = SymbolSettings(symbol="BTC/USDT:USDT", timeframe="1m", start=start, sources=("binance",),
                            datasets=("funding_rates",))
    healer = Healer(settings_for(symbol, warehouse, emulator.url), symbol,
                    {"warehouse": warehouse, "sources": SourcesResource(emulator_url=emulator.url)},
                    dataset=FUNDING_RATES)
    (request,) = healer.tick().run_requests  # nothing stored, its interval not known yet: the whole span, one run
    assert request.tags[RANGE_START] == f"{start:%Y-%m-%d-%H:%M}"
    assert request.asset_selection == [dg.AssetKey(["funding_rates", "btc_usdt"])]
    assert healer.run(request)
    want = funding_events(symbol.symbol, ms(start), ms(until))["open_ms"].to_list()
    assert stored_times(warehouse, symbol.symbol) == want and len(want) >= 3
    assert healer.tick().run_requests == []  # the hours between events hold none due: complete

    lost = start + EIGHT_HOURS
    with warehouse.connect() as conn:
        conn.execute("DELETE FROM funding_rates WHERE symbol = ? AND ts = ?",
                     [symbol.symbol, lost.replace(tzinfo=None)])
    (request,) = healer.tick().run_requests
    assert request.partition_key == f"{lost:%Y-%m-%d-%H:%M}" and RANGE_START not in request.tags
    assert healer.run(request) and stored_times(warehouse, symbol.symbol) == want
    assert healer.tick().run_requests == []
