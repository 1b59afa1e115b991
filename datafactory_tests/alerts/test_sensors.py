"""The alert sensors evaluated against a real Dagster instance, real runs of a candle asset against the emulator, a
real breaker state file and a local webhook receiver (the daemon itself runs them in e2e/test_alerts.py)."""

import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

from datafactory_assets.alerts.channels import EmailChannel, SlackChannel
from datafactory_assets.alerts.sensors import alert_sensors
from datafactory_assets.assets import build_candle_asset
from datafactory_assets.resilience.breaker import SourceBreaker
from datafactory_assets.settings import load_settings
from datafactory_tests.alerts.receivers import SlackReceiver

KEY = dg.AssetKey(["candles", "btc_usdt"])


@pytest.fixture(scope="module")
def shared_instance():
    """One instance for the module: creating a SQLite instance costs seconds, and each test has its own ledger."""
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def setup(tmp_path, emulator, sources, shared_instance):
    config = tmp_path / "datafactory.toml"
    config.write_text('[defaults]\nstart = "2024-03-01"\nsources = ["binance", "okx"]\n[symbols]\n"BTC/USDT" = {}\n'
                      '[warehouse]\npath = "w.duckdb"\n[alerts]\nchecks = ["validation", "gaps"]\n')
    settings = load_settings(config, env={})
    with SlackReceiver() as slack:
        sensors = {s.name: s for s in alert_sensors(settings, running=True)}
        resources = {"alert_slack": SlackChannel(webhook_url=f"{slack.url}/hook"), "alert_email": EmailChannel()}
        yield settings, sensors, resources, slack, shared_instance, sources


def materialize(settings, sources, instance, partition):
    from datafactory_assets.warehouse import WarehouseResource

    asset = build_candle_asset(settings.symbols[0], partitions_per_run=24)
    return dg.materialize([asset], instance=instance, partition_key=partition, raise_on_error=False, resources={
        "warehouse": WarehouseResource(path=str(settings.warehouse_path)), "sources": sources})


def evaluate_run_sensor(sensors, name, result, instance, resources):
    run = instance.get_run_by_id(result.run_id)
    kind = dg.DagsterEventType.RUN_FAILURE if name == "alert_on_run_failure" else dg.DagsterEventType.RUN_SUCCESS
    (event,) = [e.dagster_event for e in instance.all_logs(run.run_id, of_type=kind)]
    context = dg.build_run_status_sensor_context(sensor_name=name, dagster_event=event, dagster_instance=instance,
                                                 dagster_run=run, resources=resources)
    sensors[name](context.for_run_failure() if kind == dg.DagsterEventType.RUN_FAILURE else context)


def test_a_failed_run_alerts_with_its_step_error_and_a_later_success_recovers(setup, emulator):
    settings, sensors, resources, slack, instance, sources = setup
    emulator.add_fault("binance:status:400")
    emulator.add_fault("okx:status:400")
    failed = materialize(settings, sources, instance, "2024-03-01-05:00")
    assert not failed.success
    evaluate_run_sensor(sensors, "alert_on_run_failure", failed, instance, resources)
    (alert,) = slack.texts
    # materialize() runs an unnamed job without an asset selection: the subject is the job (UI runs name assets)
    assert alert.startswith("[Data-Factory] ALERT: run failed on __ephemeral_asset_job__\n"
                            "partition 2024-03-01-05:00: BTC/USDT 2024-03-01 05:00:00+00:00..")
    assert "HTTP 400" in alert and alert.endswith("stored candles left as they were")

    emulator.clear_faults()
    passed = materialize(settings, sources, instance, "2024-03-01-05:00")
    assert passed.success
    evaluate_run_sensor(sensors, "alert_on_run_success", passed, instance, resources)
    assert slack.texts[1:] == ["[Data-Factory] RECOVERED: runs succeed again on __ephemeral_asset_job__\n"
                               "partition 2024-03-01-05:00: a run of the same selection succeeded"]


def test_a_check_failing_in_a_successful_run_alerts_once_for_repeats(setup, emulator):
    settings, sensors, resources, slack, instance, sources = setup
    emulator.add_fault("binance:holes:0.3")
    emulator.add_fault("okx:garbage")  # the holes stay unconfirmed, so the check keeps failing
    for _ in range(2):
        result = materialize(settings, sources, instance, "2024-03-01-06:00")
        assert result.success
        evaluate_run_sensor(sensors, "alert_on_run_success", result, instance, resources)
    (alert,) = slack.texts
    assert alert.startswith("[Data-Factory] ALERT: check gaps failed on candles/btc_usdt\n"
                            "partition 2024-03-01-06:00: ")


def test_a_venue_rewriting_candles_older_than_a_day_alerts_once_per_run_and_a_fresh_correction_does_not(setup,
                                                                                                     emulator):
    settings, sensors, resources, slack, instance, sources = setup
    fresh = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%d-%H:00")
    for partition in (fresh, "2024-03-01-07:00"):
        emulator.clear_price_offsets()
        assert materialize(settings, sources, instance, partition).success
        emulator.set_price_offset("binance", 20)
        corrected = materialize(settings, sources, instance, partition)
        (run_figures,) = corrected.asset_materializations_for_node("candles__btc_usdt")
        assert run_figures.metadata["run_revised_candles"].value == 60  # both runs revised every candle
        evaluate_run_sensor(sensors, "alert_on_run_success", corrected, instance, resources)
        if partition == fresh:
            assert slack.texts == []  # a correction within the day is a revision, recorded but not alerted
    (alert,) = slack.texts
    assert alert == ("[Data-Factory] ALERT: venue rewrote stored history on candles/btc_usdt\n"
                     "partition 2024-03-01-07:00: the venue changed 60 stored candle(s) older than a day; the old "
                     "values are kept: `datafactory revisions` lists them")


def test_breaker_sensor_alerts_on_opening_once_and_recovers_on_closing(setup):
    settings, sensors, resources, slack, instance, _ = setup
    breaker = SourceBreaker(path=settings.state_path, source="binance", fail_max=3, reset_timeout_s=60)
    breaker.ban(600, "HTTP 418: banned until later")
    context = dg.build_sensor_context(instance=instance, resources=resources)
    for _ in range(3):
        sensors["alert_on_breaker_open"](context)
    (alert,) = slack.texts
    assert alert.startswith("[Data-Factory] ALERT: circuit breaker open on binance\nopen after ")
    breaker._storage._set("banned_until = NULL")
    breaker.breaker.close()
    sensors["alert_on_breaker_open"](context)
    assert slack.texts[1:] == ["[Data-Factory] RECOVERED: circuit breaker closed again on binance\n"
                               "closed: requests succeed again"]


def test_freshness_sensor_starts_from_now_then_alerts_and_recovers(setup):
    _, sensors, resources, slack, instance, _ = setup

    def report(new, previous):
        instance.report_runless_asset_event(FreshnessStateChange(
            key=KEY, new_state=new, previous_state=previous, state_change_timestamp=time.time()))

    report(FreshnessState.FAIL, FreshnessState.PASS)  # history: not news
    context = dg.build_sensor_context(instance=instance, resources=resources)
    sensor = sensors["alert_on_freshness"]
    sensor(context)
    report(FreshnessState.FAIL, FreshnessState.WARN)
    sensor(context)
    report(FreshnessState.PASS, FreshnessState.FAIL)
    sensor(context)
    assert [t.splitlines()[0] for t in slack.texts] == [
        "[Data-Factory] ALERT: asset is stale on candles/btc_usdt",
        "[Data-Factory] RECOVERED: asset is fresh again on candles/btc_usdt"]


def test_a_configured_instrument_a_venue_delists_alerts_once(tmp_path, shared_instance):
    """The warehouse learns the delisting from a real ingest against the emulator (Binance lists MATIC/USDT as
    BREAK); the sensor tells it on its first tick and never again on later ones."""
    from datafactory_assets.assets.ingest import ingest_window
    from datafactory_assets.emulator.server import Emulator
    from datafactory_assets.sources.resource import SourcesResource
    from datafactory_assets.warehouse import WarehouseResource

    config = tmp_path / "datafactory.toml"
    config.write_text('[defaults]\nstart = "2024-09-10"\nsources = ["binance"]\n[symbols]\n"MATIC/USDT" = {}\n'
                      '"BTC/USDT" = {}\n[warehouse]\npath = "w.duckdb"\n')
    settings = load_settings(config, env={})
    warehouse = WarehouseResource(path=str(settings.warehouse_path))
    with SlackReceiver() as slack, Emulator(symbols=["BTC/USDT", "MATIC/USDT"]) as emu:
        sensors = {s.name: s for s in alert_sensors(settings, running=True)}
        resources = {"alert_slack": SlackChannel(webhook_url=f"{slack.url}/hook"), "alert_email": EmailChannel(),
                     "warehouse": warehouse}
        context = dg.build_sensor_context(instance=shared_instance, resources=resources)
        sensors["alert_on_delisting"](context)  # no warehouse yet: nothing to tell
        for symbol in settings.symbols:
            ingest_window(symbol, start=datetime(2024, 9, 10, 2, tzinfo=UTC), end=datetime(2024, 9, 10, 4, tzinfo=UTC),
                          sources=SourcesResource(emulator_url=emu.url), warehouse=warehouse)
        for _ in range(3):
            sensors["alert_on_delisting"](context)
    assert slack.texts == ["[Data-Factory] ALERT: instrument delisted on MATIC/USDT\ndelisted 2024-09-10: its last "
                           "candle closed at 2024-09-10 03:00 UTC; coverage counts to it and nothing after it is "
                           "asked for"]
