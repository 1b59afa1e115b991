"""The commands that set up and look after the warehouse file: init, doctor and archive."""

from __future__ import annotations

from datetime import UTC, datetime

import click
import polars as pl

from datafactory_assets.cli.connect import connect
from datafactory_assets.cli.output import console, print_frame, say
from datafactory_assets.settings import load_settings
from datafactory_assets.warehouse import connection, queries


@click.command()
@click.option("--fix", is_flag=True, help="Remove rows that must not exist and repeated copies of candles, or rewrite "
              "a file whose only damage is in free space.")
def doctor(fix: bool) -> None:
    """Read every block of the warehouse file and every archive file, check integrity and say how to fix what is
    found; exit status 1 while problems remain."""
    from datafactory_assets.warehouse.integrity import find_problems, fix_findings
    from datafactory_assets.warehouse.unlisted import unlisted_pairs

    settings = load_settings()
    path = settings.warehouse_path
    if fix:
        with connect(path, read_only=False) as conn:
            console().print(fix_findings(conn))
    with connect(path, read_only=True) as conn:
        findings = find_problems(conn)
        # the file's own problems first: reading more of a damaged file would only fail again
        unlisted = [] if findings else unlisted_pairs(conn, [s.symbol for s in settings.symbols])
    for line in unlisted:
        say(line)
    if not findings and not unlisted:
        console().print("warehouse healthy: no problems found")
        return
    if findings:
        say(f"warehouse {path}: {len(findings)} problem(s)")
    for finding in findings:
        say(str(finding))
    raise SystemExit(1)


@click.command()
@click.option("--before", help="Archive every month before this month start, UTC: 2025-03-01 or 2025-03.")
@click.option("--dry-run", is_flag=True, help="With --before: list what would move and change nothing.")
@click.option("--restore", metavar="YYYY-MM", help="Instead: put this archived month of --symbol back into the table.")
@click.option("--symbol", help="With --restore: the symbol, such as BTC/USDT.")
def archive(before: str | None, dry_run: bool, restore: str | None, symbol: str | None) -> None:
    """Move closed months of candles into Parquet beside the warehouse (<stem>.archive/symbol=../month=..); every
    view, export and rollup keeps reading them, and the DuckDB file shrinks."""
    from datafactory_assets.warehouse import archive as archives

    if (before is None) == (restore is None) or (restore is not None) != (symbol is not None):
        raise click.UsageError("use --before DATE [--dry-run], or --restore YYYY-MM --symbol SYMBOL")
    path = load_settings().warehouse_path
    archive_dir = connection.archive_dir(path)
    try:
        if restore is not None:
            with connect(path, read_only=False) as conn:
                rows = archives.restore_month(conn, archive_dir=archive_dir, symbol=symbol, month=restore)
            console().print(f"restored {rows} {symbol} candle(s) of {restore} into the table")
            return
        cutoff = archives.parse_cutoff(before, today=datetime.now(UTC).date())
        size = path.stat().st_size if path.exists() else 0
        with connect(path, read_only=dry_run) as conn:
            moves = (archives.months_to_archive(conn, cutoff) if dry_run else
                     archives.archive_before(conn, archive_dir=archive_dir, before=cutoff))
            if moves and not dry_run:
                archives.compact(conn)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if not moves:
        console().print(f"nothing to archive before {cutoff}")
        return
    print_frame(pl.DataFrame(moves), "Would move" if dry_run else "Moved")
    verb = "would move" if dry_run else "moved"
    say(f"{verb} {sum(m.rows for m in moves)} candle(s) of {len(moves)} symbol-month(s) to {archive_dir}")
    if not dry_run:
        say(f"warehouse file {size / 2**20:.1f} MiB -> {path.stat().st_size / 2**20:.1f} MiB")


@click.command()
@click.option("--fresh", is_flag=True, help="Create a brand-new timestamped database instead of the configured one.")
def init(fresh: bool) -> None:
    """Create the warehouse schema (idempotent; never drops anything)."""
    path = load_settings().warehouse_path
    if fresh:
        path = queries.fresh_database_path(path.parent, datetime.now(UTC))
        if path.exists():
            raise click.ClickException(f"{path} already exists; try again in a second")
    with connection.connect(path):
        pass
    console().print(f"warehouse ready at {path}")
    if fresh:
        console().print(f"use it with: export DATAFACTORY_WAREHOUSE={path}")

