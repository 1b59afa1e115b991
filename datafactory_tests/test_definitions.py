"""A snapshot of the platform's shape: an accidental change to assets, checks, jobs or schedules shows up here."""

from datetime import timedelta

import dagster as dg

from datafactory_assets.definitions import defs

SYMBOLS = ["ada_usdt", "btc_usdt", "eth_usdt", "sol_usdt"]
PERPETUALS = ["btc_usdt", "eth_usdt"]  # BTC/USDT:USDT and ETH/USDT:USDT
PERP_CHECKS = {"perp_candles": ("gaps", "perp_vs_spot", "validation"),
               "mark_candles": ("gaps", "mark_vs_index", "validation"),
               "index_candles": ("gaps", "validation"), "premium_candles": ("gaps", "validation"),
               "funding_rates": ("gaps", "validation"), "open_interest": ("gaps", "validation")}


def test_definitions_snapshot():
    graph = defs.resolve_asset_graph()
    assert sorted(k.to_user_string() for k in graph.get_all_asset_keys()) == sorted([
        *(f"candles/{s}" for s in SYMBOLS), "coverage", *(f"rollups/1d/{s}" for s in SYMBOLS),
        *(f"rollups/1h/{s}" for s in SYMBOLS), "source_health",
        *(f"{d}/{s}" for d in PERP_CHECKS for s in PERPETUALS)])
    assert sorted(f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys) == sorted([
        *(f"candles/{s}:{c}" for s in SYMBOLS for c in ("accuracy", "anomaly", "gaps", "validation")),
        *(f"{d}/{s}:{c}" for d, checks in PERP_CHECKS.items() for s in PERPETUALS for c in checks)])
    # one job per start date: the spot pairs' (2025-01-01) and the perpetuals' (2026-11-01)
    assert sorted(j.name for j in defs.jobs) == ["candles_job_2025010100", "candles_job_2026110100", "coverage_job"]
    assert sorted(s.name for s in defs.schedules) == [
        "candles_job_2025010100_hourly", "candles_job_2026110100_hourly", "coverage_hourly"]
    assert defs.resolve_schedule_def("coverage_hourly").default_status == dg.DefaultScheduleStatus.RUNNING
    assert sorted(s.name for s in defs.sensors) == [
        "alert_on_breaker_open", "alert_on_delisting", "alert_on_freshness", "alert_on_run_failure",
        "alert_on_run_success", "candles_healing", "rollups_automation"]
    assert defs.resolve_sensor_def("candles_healing").default_status == dg.DefaultSensorStatus.RUNNING
    assert defs.resolve_sensor_def("rollups_automation").default_status == dg.DefaultSensorStatus.RUNNING


def test_alert_sensors_wait_for_a_channel_and_their_channels_are_off_without_one():
    from datafactory_assets.alerts import alerting
    from datafactory_assets.definitions import settings

    sensors, channels = alerting(settings, env={})
    assert {s.default_status for s in sensors} == {dg.DefaultSensorStatus.STOPPED}
    assert {s.minimum_interval_seconds for s in sensors} == {60}
    assert not channels["alert_slack"].enabled and not channels["alert_email"].enabled
    sensors, _ = alerting(settings, env={"DATAFACTORY_SLACK_WEBHOOK_URL": "http://127.0.0.1:9/hook"})
    assert {s.default_status for s in sensors} == {dg.DefaultSensorStatus.RUNNING}


def test_candle_assets_carry_their_operational_policy():
    asset = defs.get_assets_def(dg.AssetKey(["candles", "btc_usdt"]))
    assert asset.partitions_def.get_first_partition_key() == "2025-01-01-00:00"
    assert asset.backfill_policy == dg.BackfillPolicy.multi_run(max_partitions_per_run=720)
    assert asset.op.pool is None  # only the DuckDB transaction is serialized, by the warehouse's own lock
    assert asset.metadata_by_key[asset.key]["sources"] == (
        "binance_archive, binance, okx, bybit, kraken, coinbase, yahoo")
    assert asset.group_names_by_key[asset.key] == "candles"
    blocking = {spec.name: spec.blocking for spec in asset.check_specs}
    assert blocking == {"validation": True, "gaps": False, "accuracy": False, "anomaly": False}
    assert defs.executor == dg.in_process_executor
    freshness = defs.resolve_asset_graph().get(asset.key).freshness_policy
    assert freshness == dg.FreshnessPolicy.time_window(fail_window=timedelta(minutes=120),
                                                       warn_window=timedelta(minutes=75))


def test_dg_loads_the_project_from_pyproject():
    import subprocess
    import sys
    from pathlib import Path

    from datafactory_assets.settings import REPO_ROOT

    result = subprocess.run([Path(sys.executable).parent / "dg", "check", "defs"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_loading_the_code_location_imports_no_numpy():
    """Only an accuracy check that asks CoinGecko needs numpy; every process loading the code location (webserver,
    daemon, each run worker) would pay for it."""
    import subprocess
    import sys

    probe = "import sys, datafactory_assets.definitions; print('numpy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stdout + result.stderr
