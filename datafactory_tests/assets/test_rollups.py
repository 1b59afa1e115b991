"""Rollup assets equal a Polars computation of the same bars from the stored 1m candles, bar for bar."""

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl

from datafactory_assets.assets import build_candle_asset, build_rollup_assets
from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.emulator.server import Emulator
from datafactory_assets.sources.resource import SourcesResource
from datafactory_tests.helpers import ms, symbol_settings

DAY = datetime(2024, 3, 1, tzinfo=UTC)
COLUMNS = ["ts", "open", "high", "low", "close", "volume", "candles"]


def polars_bars(minutes: pl.DataFrame, every: str) -> pl.DataFrame:
    return (minutes.sort("ts").group_by_dynamic("ts", every=every)
            .agg(pl.col("open").first(), pl.col("high").max(), pl.col("low").min(), pl.col("close").last(),
                 pl.col("volume").sum(), pl.len().cast(pl.Int32).alias("candles")))


def test_1h_and_1d_bars_equal_polars_bars_of_the_stored_minutes(tmp_path, warehouse):
    holes = {5, 61, 62, 700}  # some hours are incomplete, as real venues' are
    recorded = [[ms(DAY) + m * 60_000, 1.0 + m / 1e4, 1.5 + m / 1e4, 0.5, 1.2 + m / 1e4, 1.0 + m % 7]
                for m in range(1440) if m not in holes]
    replay = tmp_path / "alt.json"
    replay.write_text(json.dumps(recorded))
    symbol = symbol_settings("ALT/BTC", start=DAY)
    with Emulator(replay={"ALT/BTC": replay}) as emu:
        ingest_window(symbol, start=DAY, end=DAY + timedelta(days=1), sources=SourcesResource(emulator_url=emu.url),
                      warehouse=warehouse)
    hourly, daily = build_rollup_assets(symbol, partitions_per_run=720)
    instance = dg.DagsterInstance.ephemeral()
    dg.materialize([hourly], instance=instance, resources={"warehouse": warehouse},
                   tags={"dagster/asset_partition_range_start": "2024-03-01-00:00",
                         "dagster/asset_partition_range_end": "2024-03-01-23:00"})
    dg.materialize([daily], instance=instance, resources={"warehouse": warehouse}, partition_key="2024-03-01")
    with warehouse.connect(read_only=True) as conn:
        minutes = conn.sql("SELECT * FROM candles WHERE symbol = 'ALT/BTC'").pl()
        bars_1h = conn.sql("SELECT * FROM rollup_1h ORDER BY ts").pl()
        bars_1d = conn.sql("SELECT * FROM rollup_1d ORDER BY ts").pl()
    assert bars_1h.height == 24 and bars_1d.height == 1
    assert bars_1h.select(COLUMNS).equals(polars_bars(minutes, "1h").select(COLUMNS))
    assert bars_1d.select(COLUMNS).equals(polars_bars(minutes, "1d").select(COLUMNS))
    assert bars_1h["candles"].to_list()[:2] == [59, 58] and bars_1d["candles"][0] == 1436


def test_a_day_depends_on_its_24_hours_of_candles():
    from datafactory_assets.assets import candle_assets, rollup_assets
    from datafactory_assets.settings import Settings

    settings = Settings(symbols=(symbol_settings("BTC/USDT", start=DAY),), warehouse_path=None, emulator_url=None,
                        partitions_per_run=720, schedule_minute=5, config_path=None)
    from datafactory_assets.warehouse import WarehouseResource

    defs = dg.Definitions(assets=[*candle_assets(settings), *rollup_assets(settings)],
                          resources={"warehouse": WarehouseResource(path="unused.duckdb"),
                                     "sources": SourcesResource()})
    graph = defs.resolve_asset_graph()
    candles, daily = dg.AssetKey(["candles", "btc_usdt"]), dg.AssetKey(["rollups", "1d", "btc_usdt"])
    upstream = graph.get_parent_partition_keys_for_child("2024-03-02", candles, daily)
    assert sorted(upstream.partitions_subset.get_partition_keys()) == [f"2024-03-02-{h:02d}:00" for h in range(24)]


def test_rollups_follow_their_candles_wherever_in_history_they_are_updated(emulator, warehouse):
    """The automation asks for the bars of candle hours just stored, old ones too, and a day only once complete."""
    symbol = symbol_settings("BTC/USDT", start=DAY)
    candles = build_candle_asset(symbol, partitions_per_run=720)
    hourly, daily = build_rollup_assets(symbol, partitions_per_run=720)
    instance = dg.DagsterInstance.ephemeral()
    resources = {"warehouse": warehouse, "sources": SourcesResource(emulator_url=emulator.url)}
    defs = dg.Definitions(assets=[candles, hourly, daily], resources=resources)
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.total_requested == 0

    def store(first_key: str, last_key: str) -> None:
        dg.materialize([candles], instance=instance, resources=resources,
                       tags={"dagster/asset_partition_range_start": first_key,
                             "dagster/asset_partition_range_end": last_key})

    store("2024-03-01-00:00", "2024-03-01-05:00")  # part of a day, long ago
    evaluated = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert evaluated.get_requested_partitions(hourly.key) == {f"2024-03-01-{h:02d}:00" for h in range(6)}
    assert evaluated.get_requested_partitions(daily.key) == set()  # hours of the day still missing
    store("2024-03-01-06:00", "2024-03-01-23:00")
    evaluated = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=evaluated.cursor)
    assert evaluated.get_requested_partitions(daily.key) == {"2024-03-01"}


def test_each_bucket_is_its_own_group_and_the_automation_sensor_targets_both():
    """The lineage graph labels a node by its key's last part only: the group box is what tells 1h from 1d."""
    from datafactory_assets.automation.rollups import rollup_automation_sensor
    from datafactory_assets.warehouse import WarehouseResource

    hourly, daily = build_rollup_assets(symbol_settings("BTC/USDT", start=DAY), partitions_per_run=720)
    assert (hourly.group_names_by_key[hourly.key], daily.group_names_by_key[daily.key]) == ("rollups_1h",
                                                                                           "rollups_1d")
    defs = dg.Definitions(assets=[hourly, daily], sensors=[rollup_automation_sensor()],
                          resources={"warehouse": WarehouseResource(path="unused.duckdb")})
    target = defs.get_sensor_def("rollups_automation").asset_selection
    assert target.resolve(defs.resolve_asset_graph()) == {hourly.key, daily.key}


def test_rollups_of_one_start_share_their_partitions_definitions():
    btc, eth = (build_rollup_assets(symbol_settings(s), partitions_per_run=720) for s in ("BTC/USDT", "ETH/USDT"))
    assert [a.partitions_def for a in btc] == [a.partitions_def for a in eth]
    assert all(b.partitions_def is e.partitions_def for b, e in zip(btc, eth, strict=True))
