"""A throw-away PostgreSQL server for the tests of the production profile's storages."""

import pytest

from datafactory_tests.e2e.postgres import PostgresServer


@pytest.fixture
def postgres():
    with PostgresServer() as server:
        yield server
