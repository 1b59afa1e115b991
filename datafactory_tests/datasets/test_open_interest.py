"""Open interest: the declaration's frame builder, and `open_interest/btc_usdt` materialized through Dagster with the
real ccxt clients against the emulator: what it stores is what plain ccxt fetches, Binance fails over to OKX, and a
window older than Binance's 30 days comes from the archive's metrics or from Bybit, never as a hole."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl
import pytest

from datafactory_assets.assets import build_candle_asset
from datafactory_assets.checks import GAPS, VALIDATION
from datafactory_assets.datasets import OPEN_INTEREST
from datafactory_assets.datasets.open_interest import open_interest_from_rows
from datafactory_assets.datasets.slots import slots_per_hour
from datafactory_assets.emulator import perp_series
from datafactory_assets.settings import SymbolSettings
from datafactory_assets.warehouse import queries
from datafactory_tests.emulator.helpers import ccxt_client
from datafactory_tests.helpers import ms

SYMBOL = "BTC/USDT:USDT"
SWAP = {"fetchMarkets": {"types": ["swap"]}}
LINEAR = {"fetchMarkets": {"types": ["linear"]}}
# The plain ccxt client per venue as the platform reaches its perpetuals (`venues.MARKETS`), and what it is asked.
PLAIN = {"binance": ("binanceusdm", {**LINEAR, "fetchCurrencies": False}), "okx": ("okx", SWAP),
         "bybit": ("bybit", LINEAR)}


def hour_ago(days: int) -> datetime:
    """The start of the hour `days` days before this one: the emulator's depths are counted from the real clock."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=days)


def materialize(hour: datetime, *, sources, warehouse, chain: tuple[str, ...]):
    symbol = SymbolSettings(symbol=SYMBOL, timeframe="1m", start=hour - timedelta(days=60), sources=chain,
                            datasets=("open_interest",))
    asset = build_candle_asset(symbol, partitions_per_run=720, dataset=OPEN_INTEREST)
    result = dg.materialize([asset], partition_key=hour.strftime("%Y-%m-%d-%H:%M"),
                            resources={"warehouse": warehouse, "sources": sources},
                            instance=dg.DagsterInstance.ephemeral())
    materialization = result.asset_materializations_for_node(asset.op.name)[0]
    checks = {e.event_specific_data.check_name: e.event_specific_data.passed
              for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    return {k: v.value for k, v in materialization.metadata.items()}, checks


def stored(warehouse, hour: datetime) -> pl.DataFrame:
    with warehouse.connect(read_only=True) as conn:
        return queries.window_candles(conn, SYMBOL, hour, hour + timedelta(hours=1), dataset=OPEN_INTEREST)


def plain_ccxt(emulator, venue: str, hour: datetime) -> pl.DataFrame:
    """One hour of open interest as plain ccxt fetches it, through the declaration's own builder."""
    ccxt_id, options = PLAIN[venue]
    client = ccxt_client(ccxt_id, emulator.url, **options)
    rows = client.fetch_open_interest_history(SYMBOL, "5m", since=ms(hour), limit=12,
                                              params={"until": ms(hour + timedelta(hours=1)) - 1})
    return open_interest_from_rows(rows, symbol=SYMBOL, source=venue)


def series_amounts(hour: datetime) -> list[float]:
    """The emulator's open interest in the base currency for the hour, which every venue serves in its own shape."""
    return perp_series.open_interest(SYMBOL, ms(hour), ms(hour + timedelta(hours=1)))["amount"].to_list()


def open_interest_requests(emulator, ccxt_id: str) -> int:
    return sum(1 for r in emulator.request_log() if r["venue"] == ccxt_id and "open" in r["path"].lower())


def test_the_amount_is_in_the_base_currency_at_every_venue_and_a_value_left_out_stays_null():
    rows = [  # as ccxt 4.5 parses them: okx's openInterestAmount counts contracts, bybit gives no value
        {"timestamp": 1_700_000_000_000, "openInterestAmount": 2768637.2, "baseVolume": 27686.372,
         "openInterestValue": 1.76e9},
        {"timestamp": 1_700_000_300_000, "openInterestAmount": 27496.877, "openInterestValue": None},
    ]
    frame = open_interest_from_rows(rows, symbol=SYMBOL, source="x")
    assert frame.schema == OPEN_INTEREST.schema
    assert frame["open_interest"].to_list() == [27686.372, 27496.877]
    assert frame["open_interest_value"].to_list() == [1.76e9, None]
    assert slots_per_hour(OPEN_INTEREST, 60_000) == 12  # 5m whatever the instrument's configured timeframe


def test_one_materialization_stores_exactly_what_plain_ccxt_fetches(emulator, sources, warehouse):
    hour = hour_ago(days=3)
    metadata, checks = materialize(hour, sources=sources, warehouse=warehouse, chain=("binance", "okx", "bybit"))
    want = plain_ccxt(emulator, "binance", hour)
    got = stored(warehouse, hour)
    assert want.height == 12 and metadata["source"] == "binance" and metadata["rows"] == 12
    assert got.select(want.columns).to_dicts() == want.to_dicts()
    assert checks == {VALIDATION: True, GAPS: True}


def test_open_interest_falls_over_from_binance_to_okx_when_binance_fails(emulator, sources, warehouse):
    emulator.add_fault("binanceusdm:status:503")
    hour = hour_ago(days=3)
    metadata, checks = materialize(hour, sources=sources, warehouse=warehouse, chain=("binance", "okx", "bybit"))
    assert metadata["source"] == "okx" and "binance (transient)" in metadata["failed_sources"]
    assert open_interest_requests(emulator, "binanceusdm") >= 1  # Binance was asked, and failed
    want = plain_ccxt(emulator, "okx", hour)
    assert want.height == 12
    got = stored(warehouse, hour)
    assert got.select(want.columns).to_dicts() == want.to_dicts()
    assert got["open_interest"].to_list() == series_amounts(hour)  # coins, not OKX's contracts of 0.01 BTC
    assert checks == {VALIDATION: True, GAPS: True}


@pytest.mark.parametrize("deep", ["binance_archive", "bybit"])
def test_a_window_older_than_30_days_is_served_from_deeper_history_never_reported_as_a_hole(
        emulator, sources, warehouse, deep):
    hour = hour_ago(days=45)
    metadata, checks = materialize(hour, sources=sources, warehouse=warehouse, chain=("binance", "okx", deep))
    assert metadata["source"] == deep and metadata["failed_sources"] == "none"
    assert "binance keeps open_interest only for the last 30 days" in metadata["passed_over"]
    assert "okx keeps only its latest 1440" in metadata["passed_over"]
    assert open_interest_requests(emulator, "binanceusdm") == 0  # passed over, not failed into
    got = stored(warehouse, hour)
    assert got["open_interest"].to_list() == series_amounts(hour)
    assert got["ts"].to_list() == [hour.replace(tzinfo=None) + timedelta(minutes=5 * n) for n in range(12)]
    symbol = SymbolSettings(symbol=SYMBOL, timeframe="1m", start=hour, sources=("binance",),
                            datasets=("open_interest",))
    with warehouse.connect(read_only=True) as conn:
        assert queries.gaps(conn, SYMBOL, dataset=OPEN_INTEREST).height == 0
        coverage = queries.coverage(conn, [symbol], until=hour + timedelta(hours=1), dataset=OPEN_INTEREST)
    assert coverage.select("rows", "missing", "not_fetched").row(0) == (12, 0, 0)
    assert checks == {VALIDATION: True, GAPS: True}


def test_the_archive_metrics_hold_what_binance_rest_holds_where_both_reach(emulator, sources, warehouse):
    """Three days back both serve: the archive's file and Binance's REST answer are the same series."""
    hour = hour_ago(days=3)
    materialize(hour, sources=sources, warehouse=warehouse, chain=("binance_archive", "binance"))
    want = plain_ccxt(emulator, "binance", hour)
    got = stored(warehouse, hour)
    assert got["source"].unique().to_list() == ["binance_archive"]
    assert got.select("ts", "open_interest", "open_interest_value").to_dicts() == \
        want.select("ts", "open_interest", "open_interest_value").to_dicts()
