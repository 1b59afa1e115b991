"""Candle exports a backtester loads as they are: one symbol, one timeframe, one window, to Parquet or CSV.

The file has freqtrade's OHLCV columns, in its order (freqtrade renames the columns of a loaded file by position):
`date, open, high, low, close, volume`, `date` being the candle's UTC open time. In Parquet `date` is a UTC-aware
timestamp, as in the files freqtrade's parquet/feather handlers write themselves; in CSV it is ISO 8601 with
`+00:00`, which `pandas.read_csv(parse_dates=["date"])` and `polars.read_csv(try_parse_dates=True)` read back as
UTC. Prices and volumes are the stored doubles, written by DuckDB's own COPY (shortest round-trip text in CSV), so
reading a file back gives the stored candles exactly.

Timeframes: the symbol's base timeframe reads the dataset's rows (`all_candles` for spot candles); `1h` and `1d`
read its rollup views (`candles_1h` / `candles_1d`). A bucket is exported as the view serves it, including a bucket
whose base candles are not all stored. Only OHLCV datasets export (`Dataset.ohlcv`): the file is freqtrade's OHLCV
layout; every function takes the dataset, spot candles when not given.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from datafactory_assets.datasets import SPOT_CANDLES, Dataset
from datafactory_assets.datasets.slots import slot_ms
from datafactory_assets.warehouse.sql import sql_string
from datafactory_assets.warehouse.views import BUCKETS, rollup_view

FORMATS = ("parquet", "csv")
COLUMNS = ("date", "open", "high", "low", "close", "volume")

_CSV_DATE = "%Y-%m-%dT%H:%M:%S+00:00"


class EmptyExportError(ValueError):
    """The symbol has no stored candles of that timeframe in the window: nothing was written."""


def base_timeframe(conn: duckdb.DuckDBPyConnection, symbol: str, *, dataset: Dataset = SPOT_CANDLES) -> str:
    """The timeframe `symbol`'s rows of the dataset are stored at (`1m`, `5m`, `1h` ...): the dataset's cadence
    for the instrument's configured timeframe (the `symbols` table)."""
    rows = conn.execute("SELECT timeframe_ms FROM symbols WHERE symbol = ?", [symbol]).fetchall()  # fetched whole:
    row = rows[0] if rows else None  # DuckDB 2.0 refuses the next query on a connection with a result left open
    if row is None:
        stored = [r[0] for r in conn.execute("SELECT symbol FROM symbols ORDER BY symbol").fetchall()]
        raise ValueError(f"no candles stored for {symbol}; stored symbols: {stored or 'none'}")
    return _timeframe_label(slot_ms(dataset, row[0]))


def timeframes(conn: duckdb.DuckDBPyConnection, symbol: str, *, dataset: Dataset = SPOT_CANDLES) -> list[str]:
    """The timeframes `symbol` can be exported at: its base timeframe, then the rollups."""
    base = base_timeframe(conn, symbol, dataset=dataset)
    return [base, *(tf for tf in BUCKETS if tf != base)]


def default_filename(symbol: str, timeframe: str, fmt: str) -> str:
    """`BTC/USDT`, `1h`, `parquet` -> `BTC_USDT-1h.parquet`, freqtrade's own file name for a pair's candles."""
    return f"{symbol.replace('/', '_')}-{timeframe}.{fmt}"


def export_candles(conn: duckdb.DuckDBPyConnection, *, symbol: str, timeframe: str | None = None,
                   start: datetime | None, end: datetime | None, path: str | os.PathLike, fmt: str = "parquet",
                   overwrite: bool = False, dataset: Dataset = SPOT_CANDLES) -> int:
    """Write `symbol`'s candles with open time in [start, end) (None: unbounded) to `path`; return the rows written.

    `timeframe` None means the base timeframe. Naive datetimes are UTC. Raises ValueError for an unknown symbol,
    timeframe or format or an empty window, FileExistsError when `path` exists and `overwrite` is false, and
    EmptyExportError (a ValueError) when the window holds no candle; in every failing case `path` is left untouched.
    The file is written beside `path` under a temporary name and moved into place only once complete.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {list(FORMATS)}")
    if not dataset.ohlcv:
        raise ValueError(f"{dataset.name} rows are not OHLCV bars; only OHLCV datasets export for backtesters")
    timeframe = timeframe or base_timeframe(conn, symbol, dataset=dataset)
    date = f"strftime(ts, '{_CSV_DATE}')" if fmt == "csv" else "timezone('UTC', ts)"
    query, params = window_query(conn, dataset=dataset, symbol=symbol, timeframe=timeframe, start=start, end=end,
                                 select=f"{date} AS date, open, high, low, close, volume")
    options = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT parquet, COMPRESSION zstd"

    def copy(partial: Path) -> int:
        rows = conn.execute(f"COPY ({query}) TO {sql_string(partial)} ({options})", params).fetchone()[0]
        if rows == 0:
            raise EmptyExportError(f"no {symbol} {timeframe} candles stored in {window_text(start, end)}: "
                                   f"nothing written to {path}")
        return rows

    return write_atomically(path, overwrite=overwrite, write=copy)


def window_query(conn: duckdb.DuckDBPyConnection, *, dataset: Dataset, symbol: str, timeframe: str | None,
                 start: datetime | None, end: datetime | None, select: str) -> tuple[str, list]:
    """The query (and its parameters) selecting `select` from `symbol`'s rows of `dataset` with `ts` in [start, end),
    oldest first: the dataset's rows at its base timeframe, its rollup view at `1h` / `1d`; `timeframe` None reads
    the rows whatever their cadence (funding events). Raises ValueError for a dataset that is not OHLCV bars when a
    timeframe is asked, a timeframe the symbol does not have, or an empty window."""
    source = dataset.view
    if timeframe is not None:
        if not dataset.ohlcv:
            raise ValueError(f"{dataset.name} rows are not OHLCV bars; only OHLCV datasets export for backtesters")
        valid = timeframes(conn, symbol, dataset=dataset)
        if timeframe not in valid:
            raise ValueError(f"timeframe {timeframe!r} is not available for {symbol}; valid: {valid}")
        source = dataset.view if timeframe == valid[0] else rollup_view(dataset, timeframe)
    start, end = _utc_naive(start), _utc_naive(end)
    if start is not None and end is not None and start >= end:
        raise ValueError(f"empty window: start {start:%Y-%m-%d %H:%M} is not before end {end:%Y-%m-%d %H:%M}")
    where, params = ["symbol = ?"], [symbol]
    if start is not None:
        where.append("ts >= ?")
        params.append(start)
    if end is not None:
        where.append("ts < ?")
        params.append(end)
    return f"SELECT {select} FROM {source} WHERE {' AND '.join(where)} ORDER BY ts", params


def write_atomically(path: str | os.PathLike, *, overwrite: bool, write: Callable[[Path], int]) -> int:
    """Run `write(partial)`, which writes a file at `partial` and returns its rows, then move it to `path`; return the
    rows. The file is written beside `path` under a temporary name and moved into place only once complete, so a
    failing `write` (or an existing `path` without `overwrite`: FileExistsError) leaves `path` untouched."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; pass overwrite=True (--overwrite) to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    try:
        rows = write(partial)
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target} appeared while exporting; pass overwrite=True to replace it")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return rows


def _timeframe_label(timeframe_ms: int) -> str:
    for unit, ms in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)):
        if timeframe_ms % ms == 0:
            return f"{timeframe_ms // ms}{unit}"
    return f"{timeframe_ms}ms"


def _utc_naive(moment: datetime | None) -> datetime | None:
    """Aware datetimes converted to UTC, naive ones taken as UTC; naive, as `candles.ts` is."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def window_text(start: datetime | None, end: datetime | None) -> str:
    first = f"{start:%Y-%m-%d %H:%M}" if start else "the first candle"
    last = f"{end:%Y-%m-%d %H:%M}" if end else "now"
    return f"[{first}, {last}) UTC"
