"""The healing sensor evaluated against a real Dagster instance, with the runs it asks for executed for real through
the candle assets, the emulator and a DuckDB file. (The daemon-driven version is in e2e/test_healing.py.)"""

import json
import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from datafactory_assets.assets import build_candle_asset
from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.automation.healing import _incomplete_ranges, build_healing_sensor
from datafactory_assets.automation.healing import HEALING_TAG
from datafactory_assets.datasets import OPEN_INTEREST, SPOT_CANDLES, Dataset
from datafactory_assets.emulator.server import Emulator
from datafactory_assets.settings import HealingSettings, Settings, SymbolSettings
from datafactory_assets.sources.resource import SourcesResource
from datafactory_tests.helpers import ms

RANGE_START = "dagster/asset_partition_range_start"


@pytest.fixture
def start() -> datetime:
    """Three closed hours before now; a test that would straddle the next hour waits for it first."""
    now = datetime.now(UTC)
    if now.minute == 59 and now.second > 30:
        time.sleep(61 - now.second)
        now = datetime.now(UTC)
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)


class Healer:
    """The sensor plus what a daemon would do with its answers: keep the cursor and launch the runs."""

    def __init__(self, settings: Settings, symbol: SymbolSettings, resources: dict, dataset: Dataset = SPOT_CANDLES):
        self.sensor = build_healing_sensor(settings)
        self.asset = build_candle_asset(symbol, partitions_per_run=settings.partitions_per_run, dataset=dataset)
        self.resources = resources
        self.instance = dg.DagsterInstance.ephemeral()
        self.cursor = None

    def tick(self) -> dg.SensorResult:
        context = dg.build_sensor_context(instance=self.instance, cursor=self.cursor, resources=self.resources)
        result = self.sensor(context)
        self.cursor = result.cursor
        return result

    def run(self, request: dg.RunRequest) -> bool:
        outcome = dg.materialize([self.asset], partition_key=request.partition_key, tags=request.tags,
                                 resources=self.resources, instance=self.instance, raise_on_error=False)
        return outcome.success


def settings_for(symbol: SymbolSettings, warehouse, emulator_url: str, **healing) -> Settings:
    return Settings(symbols=(symbol,), warehouse_path=warehouse.path, emulator_url=emulator_url,
                    partitions_per_run=720, schedule_minute=5, config_path=None,
                    healing=HealingSettings(settle_minutes=0, **healing))


def stored(warehouse, symbol: str) -> int:
    with warehouse.connect(read_only=True) as conn:
        return conn.sql("SELECT count(*) FROM candles WHERE symbol = ?", params=[symbol]).fetchall()[0][0]


def test_missing_hours_are_asked_for_in_one_range_run_then_deleted_rows_are_healed(start, emulator, warehouse):
    symbol = SymbolSettings(symbol="BTC/USDT", timeframe="1m", start=start, sources=("binance",))
    healer = Healer(settings_for(symbol, warehouse, emulator.url), symbol,
                    {"warehouse": warehouse, "sources": SourcesResource(emulator_url=emulator.url)})
    (request,) = healer.tick().run_requests  # nothing stored yet: the three closed hours, as one range
    assert request.tags[RANGE_START] == f"{start:%Y-%m-%d-%H:%M}" and request.tags[HEALING_TAG] == "true"
    assert request.tags["datafactory/source"] == "binance"
    assert healer.run(request) and stored(warehouse, "BTC/USDT") == 180
    assert healer.tick().run_requests == []

    with warehouse.connect() as conn:  # rows lost from the middle hour
        conn.execute("DELETE FROM candles WHERE ts >= ? AND ts < ?",
                     [(start + timedelta(hours=1, minutes=10)).replace(tzinfo=None),
                      (start + timedelta(hours=1, minutes=20)).replace(tzinfo=None)])
    (request,) = healer.tick().run_requests
    assert request.partition_key == f"{start + timedelta(hours=1):%Y-%m-%d-%H:%M}"
    assert healer.run(request) and stored(warehouse, "BTC/USDT") == 180
    assert healer.tick().run_requests == []


def test_confirmed_holes_are_not_asked_for_again(start, tmp_path, warehouse):
    recorded = [[ms(start) + m * 60_000, 1.0, 1.5, 0.5, 1.2, 7.0] for m in range(180) if m not in {7, 8, 100}]
    replay = tmp_path / "recorded.json"
    replay.write_text(json.dumps(recorded))
    symbol = SymbolSettings(symbol="ALT/BTC", timeframe="1m", start=start, sources=("binance", "okx"))
    with Emulator(replay={"ALT/BTC": replay}) as emu:
        healer = Healer(settings_for(symbol, warehouse, emu.url, backoff_s=1), symbol,
                        {"warehouse": warehouse, "sources": SourcesResource(emulator_url=emu.url)})
        (request,) = healer.tick().run_requests
        assert healer.run(request)
        time.sleep(1.05)
        (again,) = healer.tick().run_requests  # once could be a venue's glitch: asked once more
        assert again.tags[RANGE_START] == f"{start:%Y-%m-%d-%H:%M}" and healer.run(again)
        time.sleep(1.05)
        assert healer.tick().run_requests == []  # every source lacked them twice: the holes are the venue's
    with warehouse.connect(read_only=True) as conn:
        assert conn.sql("SELECT count(*) FROM known_gaps").fetchall() == [(3,)]


def test_an_hour_no_source_can_serve_is_given_up_after_the_configured_attempts_and_reported(start, emulator,
                                                                                           warehouse):
    emulator.add_fault("binance:status:503")
    symbol = SymbolSettings(symbol="BTC/USDT", timeframe="1m", start=start, sources=("binance",))
    sources = SourcesResource(emulator_url=emulator.url, retry_attempts=1, breaker_fail_max=100)
    healer = Healer(settings_for(symbol, warehouse, emulator.url, max_attempts=2, backoff_s=1, max_backoff_s=1),
                    symbol, {"warehouse": warehouse, "sources": sources})
    for _ in range(2):
        (request,) = healer.tick().run_requests
        assert not healer.run(request)
        time.sleep(1.05)
    last = healer.tick()
    assert last.run_requests == []
    assert sorted(event.partition for event in last.asset_events) == [
        f"{start + timedelta(hours=h):%Y-%m-%d-%H:%M}" for h in range(3)]
    assert "gave up after 2 runs" in last.asset_events[0].metadata["healing"].value
    assert healer.tick().asset_events == []  # reported once


def test_a_perpetuals_datasets_are_healed_each_at_its_own_asset(start, emulator, warehouse):
    from datafactory_assets.datasets import MARK_CANDLES, PERP_CANDLES

    perp = SymbolSettings(symbol="BTC/USDT:USDT", timeframe="1m", start=start, sources=("binance",),
                          datasets=("perp_candles", "mark_candles"))
    resources = {"warehouse": warehouse, "sources": SourcesResource(emulator_url=emulator.url)}
    sensor = build_healing_sensor(settings_for(perp, warehouse, emulator.url))
    instance = dg.DagsterInstance.ephemeral()
    (request,) = sensor(dg.build_sensor_context(instance=instance, resources=resources)).run_requests
    assert set(request.asset_selection) == {dg.AssetKey(["perp_candles", "btc_usdt"]),
                                            dg.AssetKey(["mark_candles", "btc_usdt"])}
    assets = [build_candle_asset(perp, partitions_per_run=720, dataset=d) for d in (PERP_CANDLES, MARK_CANDLES)]
    assert dg.materialize(assets, tags=request.tags, resources=resources, instance=instance).success
    with warehouse.connect(read_only=True) as conn:
        counts = [conn.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0]
                  for table in ("perp_candles", "mark_candles", "candles")]
    assert counts == [180, 180, 0]
    assert sensor(dg.build_sensor_context(instance=instance, resources=resources)).run_requests == []


def test_healing_counts_open_interest_in_5m_slots_so_a_full_hour_is_12_rows_and_one_row_short_is_incomplete(
        emulator, warehouse):
    """Open interest stored through the real path (Binance's REST via ccxt, three days back), one row then lost:
    healing asks for that hour alone, although a 1m-configured instrument's hour would want 60 rows."""
    first = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
    symbol = SymbolSettings(symbol="BTC/USDT:USDT", timeframe="1m", start=first, sources=("binance",),
                            datasets=("open_interest",))
    report = ingest_window(symbol, start=first, end=first + timedelta(hours=2), warehouse=warehouse,
                           sources=SourcesResource(emulator_url=emulator.url), dataset=OPEN_INTEREST)
    assert report.rows == 24
    until = first + timedelta(hours=2)
    assert _incomplete_ranges((symbol,), warehouse, until=until, dataset=OPEN_INTEREST) == {symbol.symbol: []}
    with warehouse.connect() as conn:
        conn.execute("DELETE FROM open_interest WHERE ts = ?", [first.replace(tzinfo=None) + timedelta(hours=1)])
    lacking = _incomplete_ranges((symbol,), warehouse, until=until, dataset=OPEN_INTEREST)[symbol.symbol]
    assert [start for start, _ in lacking] == [first.replace(tzinfo=None) + timedelta(hours=1)]
