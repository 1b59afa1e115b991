"""Freshness end to end: Dagster's own freshness daemon evaluates the candle asset's policy, and the alert sensor
turns the asset going stale into one Slack alert and its next materialization into one recovery."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from datafactory_tests.alerts.receivers import SlackReceiver
from datafactory_tests.e2e.platform import Platform, wait_for

pytestmark = pytest.mark.xdist_group("freshness")  # mostly waiting: beside the other platform tests, not after them


def test_an_asset_left_stale_past_its_fail_window_alerts_once_and_recovers_when_materialized(tmp_path, emulator):
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    key = f"{hour:%Y-%m-%d-%H:%M}"
    config = (f'[defaults]\ntimeframe = "1m"\nstart = "{hour:%Y-%m-%dT%H:%M}"\nsources = ["binance"]\n'
              f'[symbols]\n"BTC/USDT" = {{}}\n[schedule]\nminute_of_hour = {(now.minute + 30) % 60}\n'
              '[freshness]\nwarn_after_minutes = 1\nfail_after_minutes = 2\n'
              '[alerts]\nsensor_interval_s = 1\nchecks = ["validation"]\n')
    with SlackReceiver() as slack:
        env = {"DATAFACTORY_SLACK_WEBHOOK_URL": f"{slack.url}/services/T0/B0/hook",
               "FRESHNESS_DAEMON_INTERVAL_SECONDS": "5"}
        with Platform(tmp_path, config_toml=config, emulator_url=emulator.url, extra_env=env) as platform:
            assert platform.materialize(["btc_usdt"], first=key, last=key) == "SUCCESS"
            materialized = time.monotonic()
            (alert,) = wait_for(lambda: [t for t in slack.texts if "asset is stale" in t], timeout_s=240,
                                what="the freshness alert")
            stale_after = time.monotonic() - materialized
            assert platform.materialize(["btc_usdt"], first=key, last=key) == "SUCCESS"
            recovered = wait_for(lambda: [t for t in slack.texts if "asset is fresh again" in t],
                                 timeout_s=120, what="the freshness recovery")
            time.sleep(10)  # further daemon and sensor ticks add nothing
            texts = list(slack.texts)
    assert alert.startswith("[Data-Factory] ALERT: asset is stale on candles/btc_usdt")
    assert "fail window" in alert
    assert recovered[0].startswith("[Data-Factory] RECOVERED: asset is fresh again on candles/btc_usdt")
    assert len(texts) == 2, texts
    assert 120 <= stale_after <= 200, f"stale after {stale_after:.0f}s with a 2-minute fail window"
