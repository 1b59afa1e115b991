"""A broken `datafactory.toml` as the UI meets it: the code location fails to load, and the failure the webserver
reports (its GraphQL, which the UI renders) carries our one line, not pydantic's dump; the webserver's log has it
too."""

import json

import pytest

from datafactory_tests.e2e.platform import Platform

pytestmark = pytest.mark.xdist_group("e2e")

LOCATION = """{ workspaceOrError { ... on Workspace { locationEntries { name locationOrLoadError {
  __typename ... on PythonError { message cause { message } } } } } } }"""
BROKEN = '[defaults]\nstart = "2024-01-01"\n[symbols]\n"BTC/USDT" = {}\n[resilience]\nretry_attempts = 2.5\n'


def test_the_ui_shows_the_one_line_of_a_broken_config(tmp_path, emulator):
    line = f"{tmp_path / 'datafactory.toml'}: [resilience].retry_attempts: must be a whole number from 1 to 20, got 2.5"
    with Platform(tmp_path, config_toml=BROKEN, emulator_url=emulator.url) as platform:
        (entry,) = platform.graphql(LOCATION)["workspaceOrError"]["locationEntries"]
    error = entry["locationOrLoadError"]
    assert (entry["name"], error["__typename"]) == ("datafactory", "PythonError")
    # Dagster wraps every import failure in its own DagsterUserCodeLoadError; the UI shows ours as its cause
    assert error["message"].startswith("dagster._core.errors.DagsterUserCodeLoadError: Error occurred during the "
                                       "loading of Dagster definitions")
    assert error["cause"]["message"] == f"datafactory_assets.settings_errors.ConfigError: {line}\n"
    assert "validation error" not in json.dumps(error) and "errors.pydantic.dev" not in json.dumps(error)
    assert line in platform.log("webserver")
