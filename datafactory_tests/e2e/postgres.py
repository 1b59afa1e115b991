"""A throw-away PostgreSQL server for tests: Debian's binaries, a fresh cluster in a temporary directory, listening
on 127.0.0.1 at a free port, removed afterwards.

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` OS user (runuser) in a directory it
owns. Connections over TCP need the password, as a production server's would.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg2

from datafactory_assets.launcher import free_port

OS_USER = "postgres"
SUPERUSER = "datafactory"
DATABASE = "dagster"


def postgres_bin_dir() -> Path | None:
    """Debian keeps initdb and pg_ctl in /usr/lib/postgresql/<version>/bin (the newest wins); elsewhere, on PATH."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    on_path = shutil.which("initdb")
    for directory in [*candidates, *([Path(on_path).resolve().parent] if on_path else [])]:
        if all((directory / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return directory
    return None


def missing_reason() -> str | None:
    """Why no server can start here, or None."""
    if postgres_bin_dir() is None:
        return "PostgreSQL binaries not found (install the Debian package `postgresql`, see .ci/system-packages.txt)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            return f"running as root but there is no `{OS_USER}` OS user to run PostgreSQL as"
    return None


class PostgresServer:
    """`with PostgresServer() as pg:` a running server with database `dagster`; `pg.env` holds DATAFACTORY_PG_*."""

    def __init__(self):
        self.bin = postgres_bin_dir()
        if self.bin is None:
            raise RuntimeError(missing_reason())
        self.port = free_port()
        self.password = secrets.token_hex(12)
        self.root = Path(tempfile.mkdtemp(prefix="datafactory-pg-"))
        self.data = self.root / "data"

    @property
    def env(self) -> dict[str, str]:
        return {"DATAFACTORY_PG_HOST": "127.0.0.1", "DATAFACTORY_PG_PORT": str(self.port),
                "DATAFACTORY_PG_USER": SUPERUSER, "DATAFACTORY_PG_PASSWORD": self.password,
                "DATAFACTORY_PG_DB": DATABASE}

    def __enter__(self) -> PostgresServer:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg2.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, password=self.password,
                              dbname=DATABASE) as conn, conn.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        conn.close()
        return rows

    def _start(self) -> None:
        password_file = self.root / "password"
        password_file.write_text(self.password)
        if os.geteuid() == 0:
            entry = pwd.getpwnam(OS_USER)
            for path in (self.root, password_file):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", self.data, "-U", SUPERUSER, f"--pwfile={password_file}", "--auth-local=trust",
                  "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync")
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        self._run("pg_ctl", "-D", self.data, "-o", options, "-l", self.root / "server.log", "-w", "start")
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, DATABASE,
                  env={"PGPASSWORD": self.password})

    def _run(self, tool: str, *args, env: dict[str, str] | None = None) -> None:
        as_postgres = ["runuser", "-u", OS_USER, "--"] if os.geteuid() == 0 else []
        result = subprocess.run([*as_postgres, str(self.bin / tool), *map(str, args)], cwd=self.root,
                                env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = self.root / "server.log"
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr or result.stdout}"
                               + (f"\nserver log:\n{log.read_text()[-2000:]}" if log.exists() else ""))
