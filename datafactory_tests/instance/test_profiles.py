import hashlib
import subprocess
from pathlib import Path

import pytest
from dagster._core.instance.config import dagster_instance_config

from datafactory_assets.instance.earlier_templates import EARLIER_TEMPLATES
from datafactory_assets.instance.profiles import (
    REQUIRED_ENV,
    ProfileError,
    check_environment,
    selected_profile,
    template,
    write_instance_config,
)

PG_ENV = {"DATAFACTORY_PG_HOST": "127.0.0.1", "DATAFACTORY_PG_PORT": "5432", "DATAFACTORY_PG_USER": "datafactory",
          "DATAFACTORY_PG_PASSWORD": "secret", "DATAFACTORY_PG_DB": "dagster"}


def test_the_profile_comes_from_the_environment_and_defaults_to_embedded():
    assert selected_profile({}) == "embedded"
    assert selected_profile({"DATAFACTORY_INSTANCE_PROFILE": "production"}) == "production"
    with pytest.raises(ProfileError, match="unknown instance profile 'prod'"):
        selected_profile({"DATAFACTORY_INSTANCE_PROFILE": "prod"})


def test_production_refuses_to_start_without_its_postgres_variables_naming_them():
    check_environment("embedded", {})
    check_environment("production", PG_ENV)
    with pytest.raises(ProfileError, match="DATAFACTORY_PG_PASSWORD, DATAFACTORY_PG_DB"):
        check_environment("production", {k: v for k, v in PG_ENV.items() if k in REQUIRED_ENV["production"][:3]})
    with pytest.raises(ProfileError, match="DATAFACTORY_PG_PORT='fivefourthreetwo' is not a port"):
        check_environment("production", {**PG_ENV, "DATAFACTORY_PG_PORT": "fivefourthreetwo"})


def test_the_production_config_is_a_valid_dagster_instance_with_postgres_queue_and_retries(tmp_path, monkeypatch):
    for name, value in PG_ENV.items():
        monkeypatch.setenv(name, value)
    write_instance_config(tmp_path, "production")
    config, _ = dagster_instance_config(str(tmp_path))
    assert "storage" not in config and {config[k]["class"] for k in ("run_storage", "event_log_storage",
                                                                     "schedule_storage")} == {
        "PooledPostgresRunStorage", "CheckPlannedOncePostgresEventLogStorage", "PooledPostgresScheduleStorage"}
    assert config["run_storage"]["config"] == config["event_log_storage"]["config"] == config["schedule_storage"][
        "config"] and config["event_log_storage"]["config"]["postgres_db"]["hostname"] == {"env": "DATAFACTORY_PG_HOST"}
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["concurrency"] == {"runs": {"max_concurrent_runs": 4, "tag_concurrency_limits": [
        {"key": "datafactory/source", "value": {"applyLimitPerUniqueValue": True}, "limit": 3}]}}
    assert config["run_retries"] == {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False}
    assert config["run_monitoring"]["enabled"]


def test_an_operators_own_dagster_yaml_is_kept_but_another_profiles_is_refused(tmp_path: Path):
    embedded = write_instance_config(tmp_path / "home", "embedded")
    with pytest.raises(ProfileError, match="is the embedded profile's"):
        write_instance_config(tmp_path / "home", "production")
    embedded.write_text("telemetry:\n  enabled: false\n")
    assert write_instance_config(tmp_path / "home", "production").read_text() == "telemetry:\n  enabled: false\n"


@pytest.mark.parametrize("profile", ["embedded", "production"])
def test_both_profiles_launch_the_runs_the_daemon_dequeues_side_by_side(tmp_path, monkeypatch, profile):
    """One after another (Dagster's default), a backfill's fourth run started about 10 s after its first."""
    config = written_config(tmp_path, monkeypatch, profile)
    assert {k: config["run_coordinator"]["config"][k] for k in ("dequeue_use_threads", "dequeue_num_workers")} == {
        "dequeue_use_threads": True, "dequeue_num_workers": 4}


@pytest.mark.parametrize("profile", ["embedded", "production"])
def test_both_profiles_have_run_workers_print_info_and_above(tmp_path, monkeypatch, profile):
    assert written_config(tmp_path, monkeypatch, profile)["python_logs"] == {"python_log_level": "INFO"}


def written_config(home: Path, monkeypatch, profile: str) -> dict:
    """The instance config `datafactory up` writes for `profile`, as Dagster reads it."""
    for name, value in PG_ENV.items():
        monkeypatch.setenv(name, value)
    write_instance_config(home, profile)
    return dagster_instance_config(str(home))[0]


def test_a_run_on_the_embedded_instance_prints_no_debug_event_and_still_records_every_one(tmp_path, monkeypatch,
                                                                                          capfd):
    import dagster as dg

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    write_instance_config(tmp_path, "embedded")

    @dg.asset(partitions_def=dg.StaticPartitionsDefinition(["a", "b"]))
    def thing(context: dg.AssetExecutionContext) -> None:
        context.log.info("stored 60 candles")

    with dg.DagsterInstance.get() as instance:
        assert dg.materialize([thing], instance=instance, partition_key="a").success
        recorded = instance.fetch_materializations(thing.key, limit=10).records
    printed = capfd.readouterr().err
    assert "stored 60 candles" in printed and " - DEBUG - " not in printed and "ASSET_MATERIALIZATION" not in printed
    assert [r.partition_key for r in recorded] == ["a"]


TEMPLATE_FILES = {"embedded": "datafactory_assets/instance/dagster.yaml",
                  "production": "datafactory_assets/instance/production.yaml"}


def shipped_versions(profile: str) -> list[str]:
    """Every version of the profile's template that git holds, newest first (the repository is the record of what
    was shipped; a copy without its history skips the tests that need it)."""
    root = Path(__file__).resolve().parents[2]
    path = TEMPLATE_FILES[profile]
    log = subprocess.run(["git", "log", "--format=%H", "--", path], cwd=root, capture_output=True, text=True)
    if log.returncode or not log.stdout.strip():
        pytest.skip("needs the repository's git history")
    return [subprocess.run(["git", "show", f"{commit}:{path}"], cwd=root, capture_output=True, text=True,
                           check=True).stdout for commit in log.stdout.split()]


@pytest.mark.parametrize("profile", ["embedded", "production"])
def test_every_template_ever_committed_is_known_as_an_earlier_one(profile):
    """Changing a template without adding the replaced version's hash would leave homes written from it behind."""
    known = EARLIER_TEMPLATES[profile] | {hashlib.sha256(template(profile).encode()).hexdigest()}
    for version in shipped_versions(profile):
        assert hashlib.sha256(version.encode()).hexdigest() in known


@pytest.mark.parametrize("profile", ["embedded", "production"])
def test_a_home_written_from_the_previous_template_is_brought_up_to_this_one_an_edited_one_is_kept(tmp_path,
                                                                                                  profile):
    previous = next(v for v in shipped_versions(profile) if v != template(profile))
    (tmp_path / "dagster.yaml").write_text(previous)
    write_instance_config(tmp_path, profile)
    assert (tmp_path / "dagster.yaml").read_text() == template(profile)
    other = "production" if profile == "embedded" else "embedded"
    (tmp_path / "dagster.yaml").write_text(previous)
    with pytest.raises(ProfileError, match=f"is the {profile} profile's"):
        write_instance_config(tmp_path, other)
    (tmp_path / "dagster.yaml").write_text(previous + "# mine\n")
    write_instance_config(tmp_path, profile)
    assert (tmp_path / "dagster.yaml").read_text() == previous + "# mine\n"
