"""The `datafactory` command: coverage and gaps at a glance, warehouse set-up, the emulator, and the platform.

This module holds the group and its error handling; each command lives in the module of its job. Importing any of
them must not import Dagster (`--help` and the reading commands stay fast): what needs Dagster is imported inside
the command that runs it."""

from __future__ import annotations

import os

import click

from datafactory_assets import modes
from datafactory_assets.cli import backfill, export, maintenance, reading, services, universe
from datafactory_assets.settings import ConfigError
from datafactory_assets.warehouse import WarehouseDamagedError, WarehouseLockedError, WarehouseReadOnlyError


class _Commands(click.Group):
    """Every command meets a broken configuration, a missing, damaged or read-only warehouse or one held too long by
    a writer with one line naming it, not a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (ConfigError, WarehouseLockedError, WarehouseDamagedError, WarehouseReadOnlyError,
                FileNotFoundError, modes.ModeError) as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Commands, commands=[
    reading.status, reading.health, reading.gaps, reading.revisions, export.export, maintenance.init,
    maintenance.doctor, maintenance.archive, backfill.backfill, services.up, services.emulator, universe.universe])
@click.option("--offline", is_flag=True, default=lambda: modes.offline_requested(os.environ),
              help="Read the offline platform's warehouse (emulator data; also: DATAFACTORY_OFFLINE=1).")
def main(offline: bool) -> None:
    """Data-Factory: crypto candles with Dagster and DuckDB."""
    if offline:  # the variable every command and the offline platform's processes resolve the warehouse from
        os.environ[modes.WAREHOUSE_ENV] = str(modes.warehouse(modes.OFFLINE, os.environ))

