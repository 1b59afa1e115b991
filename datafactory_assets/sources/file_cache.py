"""A bounded on-disk cache of downloaded files that never change (published archive files), shared by processes.

Each Dagster run is its own process, and the runs of a multi-run backfill often need the same archive file; keeping
verified files on disk makes them download it once. Only files already verified are put here. A file is written
under a temporary name and renamed into place, so a reader in another process sees a whole file or none. Past
`max_bytes` the least recently used files are removed (a hit refreshes a file's modification time).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path


class FileCache:
    """`get(name)` the bytes stored under `name`, or None; `put(name, body)` stores them and evicts the oldest."""

    def __init__(self, directory: str | os.PathLike, *, max_bytes: int):
        if max_bytes < 1:
            raise ValueError(f"a file cache needs a positive size, got max_bytes={max_bytes}")
        self.directory = Path(directory)
        self.max_bytes = max_bytes

    def get(self, name: str) -> bytes | None:
        path = self._path(name)
        try:
            body = path.read_bytes()
            os.utime(path)
        except FileNotFoundError:  # never stored, or evicted by another process meanwhile
            return None
        return body

    def put(self, name: str, body: bytes) -> None:
        path = self._path(name)
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.directory / f".{name}.{uuid.uuid4().hex}.partial"
        partial.write_bytes(body)
        os.replace(partial, path)
        self._evict(keep=path)

    def _path(self, name: str) -> Path:
        if not name or name.startswith(".") or Path(name).name != name:
            raise ValueError(f"cache entry names are plain file names, got {name!r}")
        return self.directory / name

    def _evict(self, *, keep: Path) -> None:
        """Remove the least recently used files until the rest fit in `max_bytes`; never the file just stored."""
        entries = []
        for path in self.directory.iterdir():
            if path.name.startswith("."):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            entries.append((stat.st_mtime_ns, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries, key=lambda entry: entry[0]):
            if total <= self.max_bytes:
                break
            if path != keep:
                path.unlink(missing_ok=True)
                total -= size
