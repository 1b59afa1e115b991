"""The mode a command runs in (real or offline) and the warehouse connection it reads or writes through."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import click

from datafactory_assets import modes
from datafactory_assets.settings import load_settings
from datafactory_assets.warehouse import connection


def offline_chosen() -> bool:
    """`datafactory --offline ...` or DATAFACTORY_OFFLINE=1: the commands read the offline platform's warehouse."""
    return click.get_current_context().find_root().params["offline"]


@contextmanager
def connect(path: Path | None = None, *, read_only: bool):
    """A connection to the warehouse at `path` (the mode's by default) that waits at most 30 s for a writer: a person
    is waiting. Says on stderr which warehouse it opened; when the real one is missing but the offline one exists,
    says that instead of suggesting `datafactory init`."""
    path = path or load_settings().warehouse_path
    offline = offline_chosen()
    hint = None if offline or not read_only else modes.missing_warehouse_hint(path)
    if hint:
        raise click.ClickException(f"no warehouse at {path}; {hint}")
    with connection.connect(path, read_only=read_only, lock_timeout_s=30) as conn:
        click.echo(f"warehouse: {path}{' (offline: emulator data)' if offline else ''}", err=True)
        yield conn
