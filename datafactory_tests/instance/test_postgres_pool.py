"""The production profile's PostgreSQL storages keep their connection: a range run opens one per storage at most, not
one per statement; a connection the server dropped is replaced before use; a forked process opens its own."""

import dagster as dg
import pytest
import sqlalchemy as db

from datafactory_assets.instance.environment import DAGSTER_ENV
from datafactory_assets.instance.postgres_pool import PooledPostgresRunStorage, PooledPostgresScheduleStorage
from datafactory_assets.instance.profiles import write_instance_config
from datafactory_tests.e2e.postgres import missing_reason
from datafactory_tests.instance.range_runs import hourly, materialize, materialize_in_a_fork

pytestmark = pytest.mark.skipif(missing_reason() is not None, reason=missing_reason() or "")


@pytest.fixture
def production(postgres, tmp_path, monkeypatch):
    """The shipped production instance on the throw-away server, in a temporary DAGSTER_HOME."""
    for name, value in {"DAGSTER_HOME": str(tmp_path), **DAGSTER_ENV, **postgres.env}.items():
        monkeypatch.setenv(name, value)
    write_instance_config(tmp_path, "production")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        instance.wipe()
        yield instance


@pytest.fixture
def connections_opened():
    """Connections any SQLAlchemy pool of this process opens (Dagster's NullPool opens one per statement)."""
    opened: list[int] = []

    def count(*_):
        opened.append(1)

    db.event.listen(db.pool.Pool, "connect", count)
    yield opened
    db.event.remove(db.pool.Pool, "connect", count)


def days(instance: dg.DagsterInstance) -> set[str]:
    return {key[:10] for key in instance.get_materialized_partitions(hourly.key)}


def test_the_storages_are_ours(production):
    assert isinstance(production.run_storage, PooledPostgresRunStorage)
    assert isinstance(production.schedule_storage, PooledPostgresScheduleStorage)


def test_a_range_run_opens_at_most_one_connection_per_storage(production, connections_opened):
    materialize(production, "2024-03-01-00:00", "2024-03-01-23:00")  # every storage has its connection now
    connections_opened.clear()

    materialize(production, "2024-03-02-00:00", "2024-03-31-23:00")

    assert len(connections_opened) == 0  # Dagster's own storages: 69 for a 720-partition run of our candle asset
    assert len(days(production)) == 31


def test_a_connection_the_server_dropped_is_replaced_before_a_statement_fails(production, postgres):
    materialize(production, "2024-03-01-00:00", "2024-03-01-23:00")
    ended = postgres.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    assert ended and all(row == (True,) for row in ended)

    materialize(production, "2024-03-02-00:00", "2024-03-02-23:00")

    assert days(production) == {"2024-03-01", "2024-03-02"}


def test_a_forked_process_opens_its_own_connection_and_the_parent_keeps_working(production):
    materialize(production, "2024-03-01-00:00", "2024-03-01-23:00")

    assert materialize_in_a_fork(production, "2024-03-02-00:00", "2024-03-02-23:00") == 0
    materialize(production, "2024-03-03-00:00", "2024-03-03-23:00")
    assert days(production) == {"2024-03-01", "2024-03-02", "2024-03-03"}
