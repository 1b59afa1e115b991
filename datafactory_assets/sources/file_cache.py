"""A bounded on-disk cache of downloaded files that never change (published archive files), shared by processes.

Each Dagster run is its own process, and the runs of a multi-run backfill often need the same archive file; keeping
verified files on disk makes them download it once. Only files already verified are put here. A file is written
under a temporary name and renamed into place, so a reader in another process sees a whole file or none. Past
`max_bytes` the least recently used files are removed (a hit refreshes a file's modification time).

An entry is keyed by the file's path where it was published (`data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-
01.zip`), not by its name: Binance names a spot file and a USDⓈ-M futures file of a symbol and month alike, and a
name-keyed cache served one for the other. Entries sit under `by-path/` in the directory; the name-keyed files of
the earlier layout, at its top, cannot tell their market and are discarded at the next `put`, never read.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path, PurePosixPath

_ROOT = "by-path"  # where entries live; a plain file beside it is a name-keyed entry of the earlier layout


class FileCache:
    """`get(key)` the bytes stored under `key` (a relative path), or None; `put(key, body)` stores them and evicts the
    least recently used."""

    def __init__(self, directory: str | os.PathLike, *, max_bytes: int):
        if max_bytes < 1:
            raise ValueError(f"a file cache needs a positive size, got max_bytes={max_bytes}")
        self.directory = Path(directory)
        self.max_bytes = max_bytes

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            body = path.read_bytes()
            os.utime(path)
        except FileNotFoundError:  # never stored, or evicted by another process meanwhile
            return None
        return body

    def put(self, key: str, body: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
        partial.write_bytes(body)
        os.replace(partial, path)
        self._discard_name_keyed()
        self._evict(keep=path)

    def _path(self, key: str) -> Path:
        parts = PurePosixPath(key).parts
        if not parts or "/".join(parts) != key or any(part.startswith(".") for part in parts):
            raise ValueError(f"cache keys are relative paths of plain names (data/spot/x.zip), got {key!r}")
        return self.directory / _ROOT / key

    def _discard_name_keyed(self) -> None:
        """Remove the earlier layout's entries: keyed by file name only, they may hold another market's file."""
        for path in self.directory.iterdir():
            if not path.name.startswith(".") and path.is_file():
                path.unlink(missing_ok=True)

    def _evict(self, *, keep: Path) -> None:
        """Remove the least recently used files until the rest fit in `max_bytes`; never the file just stored."""
        entries = []
        for path in (self.directory / _ROOT).rglob("*"):
            if path.name.startswith("."):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            if path.is_file():
                entries.append((stat.st_mtime_ns, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries, key=lambda entry: entry[0]):
            if total <= self.max_bytes:
                break
            if path != keep:
                path.unlink(missing_ok=True)
                total -= size
