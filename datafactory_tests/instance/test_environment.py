"""The Dagster variables reach every process that records events: `datafactory up`'s `dagster dev` and the e2e
platform's webserver and daemon get them from the one table in environment.py."""

import io
import subprocess

from datafactory_assets import launcher
from datafactory_assets.instance.environment import (
    DAGSTER_ENV,
    EMIT_PARTITION_SUBSET,
    EVENT_BATCH_SIZE,
    dagster_environment,
)
from datafactory_assets.modes import REAL
from datafactory_tests.e2e.platform import Platform


def test_the_variables_are_added_and_an_operators_own_value_wins():
    env = dagster_environment({"PATH": "/bin", EVENT_BATCH_SIZE: "50"})

    assert env == {"PATH": "/bin", EMIT_PARTITION_SUBSET: "true", EVENT_BATCH_SIZE: "50"}
    assert int(DAGSTER_ENV[EVENT_BATCH_SIZE]) >= 720  # a default range run's materializations are one batch


def test_dagster_dev_started_by_datafactory_up_gets_them(tmp_path, monkeypatch):
    started: list[dict] = []

    class DagsterDev:
        """Stands in for the `dagster dev` process (not our code): records the environment it was given."""

        def __init__(self, argv, *, env, **_):
            started.append(env)
            self.stdout = io.StringIO("")

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(subprocess, "Popen", DagsterDev)
    for name in DAGSTER_ENV:
        monkeypatch.delenv(name, raising=False)

    assert launcher.run_platform(mode=REAL, host="127.0.0.1", port=3999, dagster_home=tmp_path) == 0

    assert started and all(started[0][name] == value for name, value in DAGSTER_ENV.items())
    assert started[0]["DAGSTER_DISABLE_TELEMETRY"] == "1"  # no upload thread moving the platform's log files
    assert started[0]["PYTHONUNBUFFERED"] == "1"  # its processes' lines reach the log files as they come


def test_the_e2e_platform_starts_webserver_and_daemon_with_them(tmp_path, monkeypatch):
    for name in DAGSTER_ENV:
        monkeypatch.delenv(name, raising=False)

    platform = Platform(tmp_path, config_toml="", emulator_url="http://127.0.0.1:1")

    assert all(platform.env[name] == value for name, value in DAGSTER_ENV.items())
