"""The shipped instance of each profile, and a throw-away PostgreSQL server for the production one's storages."""

import dagster as dg
import pytest

from datafactory_assets.instance.environment import DAGSTER_ENV
from datafactory_assets.instance.profiles import write_instance_config
from datafactory_tests.e2e.postgres import PostgresServer, missing_reason


@pytest.fixture
def postgres():
    with PostgresServer() as server:
        yield server


@pytest.fixture(params=["embedded", "production"])
def instance(request, tmp_path, monkeypatch):
    """The shipped instance of each profile (production on a throw-away PostgreSQL server), with the shipped Dagster
    variables, in a temporary DAGSTER_HOME."""
    env = {"DAGSTER_HOME": str(tmp_path), **DAGSTER_ENV}
    if request.param == "production":
        if reason := missing_reason():
            pytest.skip(reason)
        env |= request.getfixturevalue("postgres").env
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    write_instance_config(tmp_path, request.param)
    with dg.DagsterInstance.from_config(str(tmp_path)) as shipped:
        yield shipped
