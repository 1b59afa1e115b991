"""The source_health asset records each source's hour from the real request log and the shared breaker state."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from datafactory_assets.assets import build_source_health_asset
from datafactory_assets.assets.health import report_hour
from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.settings import Settings, SymbolSettings
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse import queries

START = datetime(2024, 3, 1, 10, tzinfo=UTC)
CHAIN = SymbolSettings(symbol="BTC/USDT", timeframe="1m", start=START, sources=("binance", "okx"))


def test_source_health_records_the_hour_per_source_as_numbers_and_tables(tmp_path, warehouse, emulator):
    sources = SourcesResource(emulator_url=emulator.url, state_path=str(tmp_path / "state.sqlite"),
                              breaker_fail_max=2, retry_attempts=1)
    emulator.add_fault("binance:status:503@2")
    for hour in range(3):  # binance fails twice (its breaker opens), okx serves; then okx serves while it is open
        ingest_window(CHAIN, start=START + timedelta(hours=hour), end=START + timedelta(hours=hour + 1),
                      sources=sources, warehouse=warehouse)
    with warehouse.connect(read_only=True) as conn:
        ((hour,),), logged = conn.sql("SELECT DISTINCT time_bucket(INTERVAL 1 HOUR, requested_at) FROM ingest_log"
                                   ).fetchall(), conn.sql("SELECT source, count(*) FROM ingest_log GROUP BY source "
                                                          "ORDER BY source").fetchall()
        hourly = queries.source_health_hourly(conn)
    assert logged == [("binance", 2), ("okx", 3)]
    assert hourly.select("source", "requests", "errors", "success_pct", "error_classes").rows() == [
        ("binance", 2, 2, 0.0, "transient:OperationFailed 2"), ("okx", 3, 0, 100.0, None)]

    settings = Settings(symbols=(CHAIN,), warehouse_path=None, emulator_url=None, partitions_per_run=720,
                        schedule_minute=5, config_path=None)
    result = dg.materialize([build_source_health_asset(settings)], resources={"warehouse": warehouse,
                                                                             "sources": sources},
                            run_config={"ops": {"source_health": {"config": {"hour": hour.isoformat()}}}},
                            instance=dg.DagsterInstance.ephemeral())
    (mat,) = result.asset_materializations_for_node("source_health")
    meta = {key: value.value for key, value in mat.metadata.items()}
    assert (meta["binance/requests"], meta["binance/errors"], meta["binance/errors_transient"],
            meta["binance/errors_throttled"], meta["binance/success_pct"], meta["binance/breaker_open"]) == (
        2, 2, 2, 0, 0.0, 1)
    assert (meta["okx/requests"], meta["okx/errors"], meta["okx/success_pct"], meta["okx/breaker_open"]) == (
        3, 0, 100.0, 0)
    assert meta["okx/p95_ms"] >= meta["okx/p50_ms"] > 0 and meta["okx/max_ms"] >= meta["okx/p95_ms"]
    assert not any(key.startswith("kraken/") for key in meta)
    numbers = {k: type(v) for k, v in mat.metadata.items() if "/" in k}
    assert set(numbers.values()) <= {dg.IntMetadataValue, dg.FloatMetadataValue}, numbers
    last_hour = meta["last_hour"].splitlines()
    assert last_hour[0] == ("| source | requests | success_pct | p50_ms | p95_ms | max_ms | errors | error_classes "
                            "| breaker |")
    assert last_hour[2].startswith("| binance | 2 | 0.0 |") and last_hour[2].endswith(
        "| 2 | transient:OperationFailed 2 | open |")
    assert "| okx | 3 | 100.0 |" in meta["last_24h"]
    assert meta["hour"] == f"{hour:%Y-%m-%d %H}:00 UTC"


def test_an_hour_without_requests_reports_zero_requests_and_no_rates(warehouse):
    settings = Settings(symbols=(CHAIN,), warehouse_path=None, emulator_url=None, partitions_per_run=720,
                        schedule_minute=5, config_path=None)
    result = dg.materialize([build_source_health_asset(settings)], resources={
        "warehouse": warehouse, "sources": SourcesResource()}, instance=dg.DagsterInstance.ephemeral())
    meta = {key: value.value for key, value in result.asset_materializations_for_node("source_health")[0]
            .metadata.items()}
    assert (meta["binance/requests"], meta["okx/requests"], meta["okx/breaker_open"]) == (0, 0, 0)
    assert "binance/success_pct" not in meta


def test_the_reported_hour_is_the_last_closed_one_unless_configured():
    now = datetime(2025, 3, 1, 10, 20, tzinfo=UTC)
    assert report_hour(None, now) == datetime(2025, 3, 1, 9)
    assert report_hour("2025-03-01T05:00+02:00", now) == datetime(2025, 3, 1, 3)
    for text, message in [("yesterday", "not an ISO hour"), ("2025-03-01T05:30", "does not start on the hour")]:
        with pytest.raises(dg.Failure, match=message):
            report_hour(text, now)
