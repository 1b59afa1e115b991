"""Warehouse integrity checks for `datafactory doctor`: a damaged file first, then what the write path should make
impossible, verified.

Damage comes first because nothing else can be read past it: every block's checksum (`blocks`, free space
included, since DuckDB reads a free block before reusing it) and a read of every column of every table, so that
a file `export` or a write would fail on is never called healthy. Damaged data cannot be repaired in place, so the
advice is a backup or a rebuild; damaged free space holds no row and `fix_findings` rewrites the file without it.

Uniqueness of a dataset's keys is kept by the write path rather than an index, so it is audited here, together with
rows no partition can hold and rows no validation would have let in, for every dataset in `DATASETS` (spot
candles' findings keep their names, another dataset's are prefixed like its views: `perp_candles_duplicate_candles`;
the values check applies to OHLCV datasets). Each finding says how to fix it; the fixable ones (rows that must not
exist, repeated rows) are removed by `fix_findings` in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from collections.abc import Mapping

import duckdb

from datafactory_assets.datasets import DATASETS, Dataset
from datafactory_assets.datasets.slots import slot_ms_sql
from datafactory_assets.warehouse.archive import archive_problems, compact
from datafactory_assets.warehouse.blocks import FREE_SPACE, MISSING, UnknownFormatError, damaged_blocks
from datafactory_assets.warehouse.schema import SCHEMA_VERSION, current_version
from datafactory_assets.warehouse.sql import transaction
from datafactory_assets.warehouse.views import CONFIGURED_MS

_OHLCV_ONLY = {"invalid_values"}


def _row_checks(dataset: Dataset) -> dict[str, tuple[str, str, bool]]:
    """Check name -> (condition on a row `c` of the dataset's table joined to its `symbols` entry `s`, how to fix,
    whether `fix_findings` deletes such rows); the slot width is the dataset's (`datasets.slots`)."""
    slot = slot_ms_sql(dataset, CONFIGURED_MS, row="c")
    # a row at the venue's own intervals (a funding event) is an instant, not a bar: it is never still open
    span = "0" if dataset.cadence.venue_interval else slot
    checks = {
        "misaligned_timestamp": (f"epoch_ms(c.ts) % {slot} <> 0",
                                 "not on the symbol's timeframe grid: delete them (--fix), then re-materialize", True),
        "before_start": ("s.start_ts IS NOT NULL AND c.ts < s.start_ts",
                         "older than the symbol's first partition: delete them (--fix) or move the start earlier",
                         True),
        "still_open_candle": (f"epoch_ms(c.ts) + {span} > epoch_ms(now() AT TIME ZONE 'UTC')",
                              "a candle that had not closed when stored: delete it (--fix); the schedule stores it "
                              "later", True),
        "unknown_symbol": ("s.symbol IS NULL",
                           "no `symbols` entry (not written by the platform): delete them (--fix) or materialize the "
                           "symbol", True),
        "invalid_values": ("c.low > least(c.open, c.close) OR c.high < greatest(c.open, c.close) OR c.low <= 0 "
                           "OR c.volume < 0 OR isnan(c.close) OR isinf(c.close)",
                           "values validation refuses: re-materialize these hours (`datafactory backfill`)", False),
    }
    return {name: check for name, check in checks.items() if dataset.ohlcv or name not in _OHLCV_ONLY}


def _rows(dataset: Dataset) -> str:
    return f"FROM {dataset.table} c LEFT JOIN symbols s USING (symbol)"


_REBUILD = ("restore the warehouse file from a backup (with its `.archive` directory); with none, move it aside, run "
            "`datafactory init` and fetch the history again with `datafactory backfill --from START --to END`")
_REWRITE = ("no stored row is damaged, but DuckDB reads free space before reusing it, so every write would fail: "
            "`datafactory doctor --fix` rewrites the file without it")


@dataclass(frozen=True)
class Finding:
    """One kind of problem: how many rows (blocks, for a damaged file), one example, and what to do."""

    check: str
    count: int
    example: str
    fix: str

    def __str__(self) -> str:
        return f"{self.check}: {self.count} ({self.example}) -> {self.fix}"


def find_problems(conn: duckdb.DuckDBPyConnection, *, datasets: Mapping[str, Dataset] = DATASETS) -> list[Finding]:
    """Every integrity problem in the warehouse, over the rows of `datasets`; an empty list means healthy."""
    damage = storage_problems(conn)
    if damage:  # the other checks read the damaged file
        return damage
    version = current_version(conn)
    if version != SCHEMA_VERSION:
        fix = "run `datafactory init`" if version < SCHEMA_VERSION else "upgrade Data-Factory"
        return [Finding("schema_version", 1, f"file has version {version}, code expects {SCHEMA_VERSION}", fix)]
    archive = archive_problems(conn, datasets=datasets)
    if archive:  # every other check reads the archive too
        return [Finding("archive_files", len(archive), archive[0],
                        "keep the `<warehouse stem>.archive` directory beside the warehouse file (move them together) "
                        "or restore its files from a backup (an archive file never changes once written)")]
    return [finding for dataset in datasets.values() for finding in _row_problems(conn, dataset)]


def _row_problems(conn: duckdb.DuckDBPyConnection, dataset: Dataset) -> list[Finding]:
    findings = []
    keys = ", ".join(dataset.keys)
    repeated = conn.sql(f"SELECT count(*), min(concat_ws(' ', {keys})) FROM (SELECT {keys} FROM {dataset.view} "
                        f"GROUP BY {keys} HAVING count(*) > 1)").fetchall()[0]
    if repeated[0]:
        findings.append(Finding(dataset.relation("duplicate_candles"), repeated[0], repeated[1],
                                "keep the newest copy of each (--fix), then re-materialize those hours; copies in "
                                "archived months: `datafactory archive --restore MONTH --symbol SYMBOL` first"))
    for name, (condition, fix, _) in _row_checks(dataset).items():
        count, example = conn.sql(f"SELECT count(*), min(c.symbol || ' ' || c.ts) {_rows(dataset)} "
                                  f"WHERE {condition}").fetchall()[0]
        if count:
            findings.append(Finding(dataset.relation(name), count, example, fix))
    return findings


def storage_problems(conn: duckdb.DuckDBPyConnection) -> list[Finding]:
    """Damage to the file: blocks whose checksum fails, by what they hold, and tables DuckDB cannot read."""
    try:
        blocks = damaged_blocks(conn)
    except UnknownFormatError as exc:
        return [Finding("block_format", 1, str(exc), "use the DuckDB version Data-Factory pins, or upgrade it")]
    damaged: dict[str, list[str]] = {}
    for block in blocks:
        damaged.setdefault(block.owner, []).append(f"{block.detail} at byte {block.offset}")
    for (table,) in conn.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                                 "AND schema_name = 'main' ORDER BY table_name").fetchall():
        if f"table {table}" in damaged:
            continue
        try:  # hash(t) needs every column of every row: DuckDB reads and checks each of the table's blocks
            conn.execute(f'SELECT count(*), sum(hash(t)) FROM "{table}" AS t').fetchall()
        except duckdb.Error as exc:
            damaged[f"table {table}"] = [" ".join(str(exc).split())]
    return [_damage_finding(owner, details) for owner, details in damaged.items()]


def _damage_finding(owner: str, details: list[str]) -> Finding:
    if owner == FREE_SPACE:
        return Finding("damaged_free_space", len(details), details[0], _REWRITE)
    if owner == MISSING:
        return Finding("truncated_file", 1, details[0], _REBUILD)
    return Finding("damaged_data", len(details), f"{owner}: {details[0]}", _REBUILD)


def fix_findings(conn: duckdb.DuckDBPyConnection, *, datasets: Mapping[str, Dataset] = DATASETS) -> str:
    """Rewrite a file whose only damage is in free space; otherwise, when the file is whole, delete the rows that
    must not exist and all but the newest copy of repeated candles. Says what it did; close `conn` right after (a
    rewritten file is read by a new connection)."""
    damage = storage_problems(conn)
    if damage:
        if {f.check for f in damage} != {"damaged_free_space"}:
            return "nothing fixed: the damaged data needs the steps below"
        compact(conn)
        return "rewrote the warehouse file without its damaged free space"
    removed = 0
    with transaction(conn):
        for dataset in datasets.values():
            removed += _delete_fixable(conn, dataset)
    return f"removed {removed} row(s)"


def _delete_fixable(conn: duckdb.DuckDBPyConnection, dataset: Dataset) -> int:
    """Delete the dataset's rows that must not exist and all but the newest copy of repeated keys; returns how
    many rows went."""
    table = dataset.table
    before = conn.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    deletable = " OR ".join(f"({cond})" for cond, _, deletes in _row_checks(dataset).values() if deletes)
    conn.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT c.rowid {_rows(dataset)} WHERE {deletable})")
    conn.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM (SELECT rowid, row_number() OVER "
                 f"(PARTITION BY {', '.join(dataset.keys)} ORDER BY ingested_at DESC, rowid DESC) AS copy "
                 f"FROM {table}) WHERE copy > 1)")
    return before - conn.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0]
