"""The coverage asset records the coverage table of a warehouse filled through the real ingest path."""

import json
from datetime import UTC, datetime, timedelta

import dagster as dg

from datafactory_assets.assets import build_coverage_asset
from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.emulator.server import Emulator
from datafactory_assets.settings import Settings
from datafactory_assets.sources.resource import SourcesResource
from datafactory_tests.helpers import ms, symbol_settings

START = datetime(2024, 3, 1, 10, tzinfo=UTC)


def test_coverage_metadata_renders_the_table_and_a_number_per_symbol(tmp_path, warehouse, emulator):
    ingest_window(symbol_settings("BTC/USDT"), start=START, end=START + timedelta(hours=2),
                  sources=SourcesResource(emulator_url=emulator.url), warehouse=warehouse)
    recorded = [[ms(START) + m * 60_000, 1.0, 1.5, 0.5, 1.2, 7.0] for m in range(60) if m not in {10, 11, 40}]
    replay = tmp_path / "alt.json"
    replay.write_text(json.dumps(recorded))
    with Emulator(replay={"ALT/BTC": replay}) as alt:
        for _ in range(2):  # holes confirmed in two fetches an hour apart are the venue's
            ingest_window(symbol_settings("ALT/BTC"), start=START, end=START + timedelta(hours=1),
                          sources=SourcesResource(emulator_url=alt.url), warehouse=warehouse)
            with warehouse.connect() as conn:  # the hour between them, which the test cannot wait
                conn.execute("UPDATE known_gaps SET confirmed_at = confirmed_at - INTERVAL 61 MINUTE")
    with warehouse.connect() as conn:  # rows lost after they were stored: a gap no source confirmed
        conn.execute("DELETE FROM candles WHERE symbol = 'BTC/USDT' AND ts BETWEEN '2024-03-01 10:30' "
                     "AND '2024-03-01 10:34'")
    settings = Settings(symbols=(symbol_settings("BTC/USDT"), symbol_settings("ALT/BTC")), warehouse_path=None,
                        emulator_url=None, partitions_per_run=720, schedule_minute=5, config_path=None)
    result = dg.materialize([build_coverage_asset(settings)], resources={"warehouse": warehouse},
                            instance=dg.DagsterInstance.ephemeral())
    (mat,) = result.asset_materializations_for_node("coverage")
    meta = {key: value.value for key, value in mat.metadata.items()}
    assert meta["symbols"] == 2 and meta["rows"] == 115 + 57
    assert meta["btc_usdt/completeness_pct"] == round(100 * 115 / 120, 4)
    assert meta["btc_usdt/open_gaps"] == 1 and meta["btc_usdt/missing"] == 5
    assert meta["btc_usdt/confirmed_holes"] == 0
    # the replay's holes: the only source was asked and has none, so they are confirmed, not open
    assert meta["alt_btc/open_gaps"] == 0 and meta["alt_btc/missing"] == 0 and meta["alt_btc/confirmed_holes"] == 3
    assert meta["alt_btc/completeness_pct"] == 100.0
    table = meta["coverage"]
    assert table.splitlines()[0].startswith("| symbol | first_ts | last_ts | rows |")
    assert "| BTC/USDT | 2024-03-01 10:00 | 2024-03-01 11:59 | 115 | 120 | 95.8333 | 1 | 5 | 0 | binance |" in table
    assert meta["btc_usdt/last_ts"] == datetime(2024, 3, 1, 11, 59).replace(tzinfo=UTC).timestamp()
