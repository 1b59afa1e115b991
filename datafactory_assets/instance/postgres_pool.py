"""dagster-postgres storages that keep a connection open instead of opening one per statement.

Dagster 1.13's PostgreSQL run, event log and schedule storages build their engine with `NullPool` ("to prevent
accumulating connections per DagsterInstance"): every statement connects, authenticates and closes. A 720-partition
range run made 69 connections that way; each costs the run worker about 4.5 ms (psycopg2 connect, SCRAM) and the
server a process fork and its own SCRAM, 0.31 s of server CPU per run, together about 0.8 ms per partition. Only the
webserver keeps a connection (`optimize_for_webserver`, one per storage).

`PooledEngine` gives a storage the webserver's kind of engine in every process (run workers, the daemon, the CLI): one
connection kept per storage and process (up to three per process), more opened for concurrent threads and closed when
returned (`max_overflow=-1`: never waits for one, as NullPool never did), checked with a ping before each use so a
restarted server or a dropped idle connection costs a reconnect instead of a failed statement, and replaced after an
hour. A connection is never used by a process other than the one that opened it: the connection that a forked child
inherits is discarded at its first checkout (SQLAlchemy's recipe for pools and `os.fork`). The webserver still gets
Dagster's own engine and statement timeout (`optimize_for_webserver` replaces this one).

Dagster has no setting for the pool; this module replaces the storages' `_engine` attribute (which every Dagster
method reads) after Dagster's constructor built it, and is the only place that does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import sqlalchemy as db
from dagster._serdes import ConfigurableClassData
from dagster_postgres import PostgresRunStorage, PostgresScheduleStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

RECYCLE_SECONDS = 3600  # as Dagster's webserver (`--db-pool-recycle`)


def pooled_engine(url: str, token_provider: Any) -> db.Engine:
    """An engine keeping one connection, for the process that opened it only."""
    engine = create_pg_engine(url, token_provider, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=-1,
                              pool_pre_ping=True, pool_recycle=RECYCLE_SECONDS)
    db.event.listen(engine, "connect", _remember_pid)
    db.event.listen(engine, "checkout", _refuse_other_pid)
    return engine


def _remember_pid(_dbapi_connection: Any, record: Any) -> None:
    record.info["pid"] = os.getpid()


def _refuse_other_pid(_dbapi_connection: Any, record: Any, proxy: Any) -> None:
    if record.info["pid"] != os.getpid():  # inherited through fork: the parent still uses it, never close it here
        record.dbapi_connection = proxy.dbapi_connection = None
        raise db.exc.DisconnectionError(f"connection opened by process {record.info['pid']}, not {os.getpid()}")


class PooledEngine:
    """Mixin for a dagster-postgres storage (first in the bases): its engine keeps a connection open."""

    postgres_url: str
    _token_provider: Any
    _engine: db.Engine

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # creates the tables if needed, over Dagster's NullPool engine
        self._engine = pooled_engine(self.postgres_url, self._token_provider)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]) -> Any:
        """Dagster's storages build their own class here, not `cls`."""
        return cls(inst_data=inst_data, postgres_url=pg_url_from_config(config_value),
                   should_autocreate_tables=config_value.get("should_autocreate_tables", True),
                   token_provider=get_token_provider_from_config(config_value))

    def optimize_for_webserver(self, statement_timeout: int, pool_recycle: int, max_overflow: int) -> None:
        self._engine.dispose()
        super().optimize_for_webserver(statement_timeout, pool_recycle, max_overflow)

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()


class PooledPostgresRunStorage(PooledEngine, PostgresRunStorage):
    """`PostgresRunStorage` keeping a connection open."""


class PooledPostgresScheduleStorage(PooledEngine, PostgresScheduleStorage):
    """`PostgresScheduleStorage` keeping a connection open."""
