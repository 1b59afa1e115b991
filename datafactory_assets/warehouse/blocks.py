"""DuckDB's own block checksums, recomputed over the whole warehouse file, free blocks included.

DuckDB checks a block's checksum only when it reads the block, and 2.0 offers no verifier (no PRAGMA or function
reads every block). Scanning every table reads the blocks in use, not the free ones, yet DuckDB reads a free block
before it reuses it: with 8 KiB of random bytes written 8 KiB before the end of a real warehouse, every table scanned
clean and every later write failed on "Corrupt database file" (datafactory_tests/warehouse/test_integrity.py). So
`datafactory doctor` reads every block of the file itself.

The layout is DuckDB's storage format (src/storage/single_file_block_manager.cpp, src/common/checksum.cpp): three
4 KiB headers, then blocks of `block_size` bytes, each a 64-bit little-endian checksum of the rest of the block
followed by that rest; the checksum is 5381 xor, over every 64-bit word, the word times 0xbf58476d1ce4e5b9 (so
damage that writes one pattern of words an even number of times cancels out, for DuckDB as for us). The
format is DuckDB's private one, so this is the only module that knows it, and it checks its reading of the format
on the three headers (which DuckDB verified when it opened the file) before it calls any block damaged:
`UnknownFormatError` rather than a healthy file reported broken by a DuckDB release that changed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

HEADER_SIZE = 4096
HEADERS = 3  # the main header and two database headers
_MULTIPLIER = np.uint64(0xBF58476D1CE4E5B9)
_SEED = 5381
_READ_BLOCKS = 64  # 16 MiB at a time with DuckDB's default 256 KiB blocks


class UnknownFormatError(RuntimeError):
    """The file's headers do not follow the storage format this module knows (another DuckDB release)."""


@dataclass(frozen=True)
class DamagedBlock:
    """A stretch of the file whose stored checksum does not match its bytes (or that is missing)."""

    offset: int
    owner: str  # "table candles", "catalog metadata", FREE_SPACE or MISSING
    detail: str


FREE_SPACE = "free space"
MISSING = "missing blocks"


def damaged_blocks(conn: duckdb.DuckDBPyConnection) -> list[DamagedBlock]:
    """Every block of the file `conn` has open whose checksum fails, named by what it holds, and the blocks a file
    cut short lacks; `UnknownFormatError` when the headers do not read as this module expects."""
    path, block_size, total_blocks = conn.execute(
        "SELECT d.path, s.block_size, s.total_blocks FROM duckdb_databases() d JOIN pragma_database_size() s "
        "USING (database_name) WHERE d.database_name = current_database()").fetchall()[0]
    path = Path(path)
    damaged = []
    with path.open("rb") as file:
        headers = np.frombuffer(file.read(HEADERS * HEADER_SIZE), dtype="<u8")
        if not _checksums_match(headers.reshape(HEADERS, -1)).all():
            raise UnknownFormatError(f"{path}: the headers' checksums do not follow the storage format this "
                                     f"Data-Factory knows (DuckDB {duckdb.__version__}); its blocks are not checked")
        owners = _owners(conn)
        first = 0
        while first < total_blocks:
            chunk = file.read(min(_READ_BLOCKS, total_blocks - first) * block_size)
            whole = len(chunk) // block_size
            if not whole:
                break
            words = np.frombuffer(chunk, dtype="<u8", count=whole * block_size // 8).reshape(whole, -1)
            for i in np.flatnonzero(~_checksums_match(words)):
                block = first + int(i)
                damaged.append(DamagedBlock(_offset(block, block_size), owners.get(block, FREE_SPACE),
                                            f"block {block}: checksum mismatch"))
            first += whole
    if first < total_blocks and not _unwritten_free_blocks(owners, first=first, total=total_blocks,
                                                           size=path.stat().st_size, block_size=block_size):
        damaged.append(DamagedBlock(_offset(first, block_size), MISSING,
                                    f"the file ends at byte {path.stat().st_size}, inside or before block {first} of "
                                    f"{total_blocks}: it was cut short"))
    return damaged


def _unwritten_free_blocks(owners: dict[int, str], *, first: int, total: int, size: int, block_size: int) -> bool:
    """Whether the blocks the header counts beyond the file's end are free blocks DuckDB never wrote: it truncates
    trailing free blocks off the file at a checkpoint yet keeps counting them (a table of 54 blocks dropped left a
    file of 56 blocks whose header says 110, 54 free), and a fresh fill's runs left such files between them, which
    doctor reported as cut short. A file that ends inside a block, or lacks a block holding data, was cut short."""
    return size == _offset(first, block_size) and not any(block in owners for block in range(first, total))


def _checksums_match(rows: np.ndarray) -> np.ndarray:
    """Per row (a header or block as 64-bit words): whether its first word is DuckDB's checksum of the others."""
    with np.errstate(over="ignore"):
        computed = np.bitwise_xor.reduce(rows[:, 1:] * _MULTIPLIER, axis=1) ^ np.uint64(_SEED)
    return computed == rows[:, 0]


def _offset(block: int, block_size: int) -> int:
    return HEADERS * HEADER_SIZE + block * block_size


def _owners(conn: duckdb.DuckDBPyConnection) -> dict[int, str]:
    """Block id -> what it holds: catalog metadata or a table's column segments; blocks in neither are free."""
    owners = {block: "catalog metadata" for (block,) in conn.execute(
        "SELECT block_id FROM pragma_metadata_info()").fetchall()}
    for (table,) in conn.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                                 "AND schema_name = 'main'").fetchall():
        try:
            segments = conn.execute("SELECT block_id, additional_block_ids FROM pragma_storage_info(?)",
                                    [table]).fetchall()
        except duckdb.Error:
            continue  # its own metadata is damaged: the table scan in `integrity` names it
        for block, more in segments:
            for owned in [block, *(more or [])]:
                owners[owned] = f"table {table}"
    return owners
