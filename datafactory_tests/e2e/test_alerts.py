"""Alerts end to end: the real webserver and daemon run the alert sensors; a candle partition whose gaps check fails
alerts once on Slack (a local webhook receiver) and by email (aiosmtpd, STARTTLS and login), and once the partition
is whole again, one recovery follows on each. A canary secret set as the webhook path and the SMTP password shows up
in no log file, no instance event and no message."""

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from datafactory_tests.alerts.receivers import SlackReceiver, SmtpReceiver
from datafactory_tests.e2e.platform import Platform, wait_for

pytestmark = pytest.mark.xdist_group("e2e")

CANARY = "canary-7d0c2f1e9b-secret"
SELECTOR = {"repositoryLocationName": "datafactory", "repositoryName": "__repository__"}
TICKS = """query Ticks($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
  __typename ... on Sensor { sensorState { ticks(limit: 1) { status } } } } }"""


def run_partition(platform: Platform, partition: str) -> str:
    """One run of candles/btc_usdt over one partition, launched as the UI does; returns its final status."""
    return platform.materialize(["btc_usdt"], first=partition, last=partition, timeout_s=120)


def about(partition: str, slack: SlackReceiver, smtp: SmtpReceiver) -> tuple[list[str], list[str]]:
    """What each channel got about the partition: Slack texts and email subject + body."""
    mails = [f"{m['Subject']}\n{m.get_payload()}" for m in smtp.messages]
    return [t for t in slack.texts if partition in t], [m for m in mails if partition in m]


def test_a_failing_gaps_check_alerts_once_then_recovers_once_on_slack_and_email(tmp_path, emulator, monkeypatch):
    # the universe is the last complete hour only, so the schedule and the healing sensor can only touch it too
    partition_start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    partition = f"{partition_start:%Y-%m-%d-%H:%M}"
    config = (f'[defaults]\ntimeframe = "1m"\nstart = "{partition_start:%Y-%m-%dT%H:%M}"\nsources = ["binance"]\n'
              '[symbols]\n"BTC/USDT" = {}\n'
              '[alerts]\ngaps_threshold = 3\nsensor_interval_s = 1\nrepeat_interval_s = 3600\n')
    with SlackReceiver() as slack, SmtpReceiver(cert_dir=tmp_path / "tls", user="factory", password=CANARY) as smtp, \
            pytest.MonkeyPatch.context() as env:
        for name, value in {"DATAFACTORY_SLACK_WEBHOOK_URL": f"{slack.url}/services/T0/B0/{CANARY}",
                            "DATAFACTORY_SMTP_HOST": "127.0.0.1", "DATAFACTORY_SMTP_PORT": str(smtp.port),
                            "DATAFACTORY_SMTP_STARTTLS": "true", "DATAFACTORY_SMTP_CA_FILE": smtp.ca_file,
                            "DATAFACTORY_SMTP_USER": "factory", "DATAFACTORY_SMTP_PASSWORD": CANARY,
                            "DATAFACTORY_SMTP_FROM": "factory@example.org",
                            "DATAFACTORY_SMTP_TO": "ops@example.org"}.items():
            env.setenv(name, value)
        (tmp_path / "platform").mkdir()
        with Platform(tmp_path / "platform", config_toml=config, emulator_url=emulator.url) as platform:
            wait_for(lambda: platform.graphql(TICKS, {"selector": {**SELECTOR, "sensorName": "alert_on_run_success"}})
                     ["sensorOrError"]["sensorState"]["ticks"], timeout_s=90, what="a first alert sensor tick")

            emulator.add_fault("binance:holes:0.2")
            assert run_partition(platform, partition) == "SUCCESS"  # gaps is WARN: the run succeeds, the check fails
            slack_texts, mails = wait_for(lambda: all(about(partition, slack, smtp)) and about(partition, slack, smtp),
                                          timeout_s=60, what="the alert on both channels")
            for text in (*slack_texts, *mails):
                assert text.startswith("[Data-Factory] ALERT: check gaps failed on candles/btc_usdt\n"), text
                assert f"partition {partition}: " in text and "missing candles in" in text, text

            emulator.clear_faults()
            assert run_partition(platform, partition) == "SUCCESS"
            wait_for(lambda: all(len(got) == 2 for got in about(partition, slack, smtp)), timeout_s=60,
                     what="the recovery on both channels")
            time.sleep(5)  # several more sensor ticks: nothing is sent twice
            for got in about(partition, slack, smtp):
                assert len(got) == 2, got
                assert got[1].startswith("[Data-Factory] RECOVERED: check gaps passes again on candles/btc_usdt\n")
                assert f"partition {partition}: 0 missing candles" in got[1], got[1]
            assert smtp.logins and all(login.endswith(":ok") for login in smtp.logins)

        monkeypatch.setenv("DAGSTER_HOME", str(platform.dagster_home))  # the shipped event log's files are below it
        assert_canary_nowhere(platform, slack, smtp)


def assert_canary_nowhere(platform: Platform, slack: SlackReceiver, smtp: SmtpReceiver) -> None:
    """Not in any file the platform wrote (logs, compute logs, SQLite storage), any event or run tag of the instance,
    or any message; it did reach the receivers as a webhook path and a login, so the test can see it at all."""
    assert any(CANARY in post["path"] for post in slack.posts)
    leaks = [str(path) for path in Path(platform.workdir).rglob("*") if path.is_file()
             and CANARY.encode() in path.read_bytes()]
    assert not leaks, leaks
    assert not [t for t in slack.texts if CANARY in t]
    assert not [m for m in smtp.messages if CANARY in m.as_string()]
    with dg.DagsterInstance.from_config(str(platform.dagster_home)) as instance:
        runs = instance.get_runs()
        assert len(runs) >= 2
        for run in runs:
            assert CANARY not in str(run.tags)
            assert not [e for e in instance.all_logs(run.run_id) if CANARY in str(e)]
