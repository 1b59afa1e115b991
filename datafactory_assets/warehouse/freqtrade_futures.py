"""A perpetual's stored data in the layout freqtrade loads for `--trading-mode futures`, file for file as its own
`download-data` would leave them, so a backtest reads them as they are.

The layout is freqtrade's (read in freqtrade 2026.9, `freqtrade/data/history/datahandlers/idatahandler.py`,
`freqtrade/candle_columns.py`, `freqtrade/enums/candletype.py`, `freqtrade/data/history/history_utils.py`):

- Where: `<datadir>/futures/<pair>-<timeframe>-<candle type>.<ext>` (`IDataHandler._pair_data_filename`; the pair
  through `misc.pair_to_filename`, which turns `/ .@$+:` and spaces into `_`; a month timeframe `1M` is written
  `1Mo`): `futures/BTC_USDT_USDT-1m-futures.feather`, `-1h-mark.feather`, `-1h-funding_rate.feather`.
- Which: what `download-data --trading-mode futures` stores. Without candle types, the futures candles at each
  timeframe, the mark candles at the exchange's `mark_ohlcv_timeframe` and the funding rates at its
  `funding_fee_timeframe`, both `1h` in 2026.9's `Exchange._ft_has` (Binance, OKX and Bybit keep the default); with
  candle types, each at each timeframe, and funding rates at the funding timeframe. Backtesting loads exactly those
  two (`optimize/backtesting.py`) and joins funding rows to mark candles on the date.
- Columns: candle types are freqtrade's OHLCV columns `date, open, high, low, close, volume`; funding rates
  `date, funding_rate` (`candle_columns._FUNDING_RATE_COLUMNS`). Freqtrade before that layout stored a funding
  rate as an OHLCV row with the rate in `open` and zeros elsewhere; 2026.9 still reads such files (its "legacy
  layout") but writes the new one, and so do we. A funding row's date is the event's stored slot (`ts`, the hour
  the venue's time lies in; Binance's is a few ms past it), so it meets the mark candle opening then: freqtrade's
  loader only floors dates to the second ("funding rate data is sometimes off by a couple of ms"), and its
  backtest joins funding to mark candles on the exact date.
- Formats: `feather` (freqtrade's default: Arrow IPC, lz4, as its handler writes), `parquet`, and `json` (its
  "values" orient: a list of rows, the date as epoch milliseconds). `date` is a UTC timestamp in milliseconds.

Data: each candle type reads one dataset (`CANDLE_TYPES`): futures candles the perpetual's trade candles, mark /
index / premiumIndex its mark, index and premium-index candles, funding rates its funding events. Timeframes are the
dataset's base timeframe and its 1h / 1d rollups (`export.timeframes`). Values are the stored doubles, unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from datafactory_assets.datasets import DATASETS, Dataset
from datafactory_assets.instruments import Instrument
from datafactory_assets.warehouse.export import (COLUMNS, EmptyExportError, base_timeframe, window_query,
                                                 window_text, write_atomically)

FORMATS = ("feather", "parquet", "json")
# freqtrade 2026.9's `Exchange._ft_has` defaults: mark_ohlcv_timeframe and funding_fee_timeframe
MARK_TIMEFRAME = "1h"
FUNDING_TIMEFRAME = "1h"


@dataclass(frozen=True)
class CandleType:
    """One of freqtrade's candle types (`CandleType` values) and the dataset that holds it: `select` is the SQL of
    freqtrade's columns after `date`, `ohlcv` whether rows are bars (a timeframe, rollups) or events."""

    name: str
    dataset: str
    select: str = ", ".join(COLUMNS[1:])
    ohlcv: bool = True


FUTURES, MARK, FUNDING_RATE = "futures", "mark", "funding_rate"
CANDLE_TYPES: dict[str, CandleType] = {ct.name: ct for ct in (
    CandleType(FUTURES, "perp_candles"),
    CandleType(MARK, "mark_candles"),
    CandleType("index", "index_candles"),
    CandleType("premiumIndex", "premium_candles"),
    CandleType(FUNDING_RATE, "funding_rates", select="rate AS funding_rate", ohlcv=False),
)}


@dataclass(frozen=True)
class Written:
    """One file the export wrote."""

    path: Path
    candle_type: str
    timeframe: str
    rows: int


def pair_filename(symbol: str, *, timeframe: str, candle_type: str, fmt: str) -> str:
    """`BTC/USDT:USDT`, `1m`, `futures`, `feather` -> `futures/BTC_USDT_USDT-1m-futures.feather`, freqtrade's own
    path for it under its data directory."""
    pair = symbol
    for char in ("/", " ", ".", "@", "$", "+", ":"):
        pair = pair.replace(char, "_")
    return f"futures/{pair}-{timeframe.replace('M', 'Mo')}-{candle_type}.{fmt}"


def plan(*, timeframes: Sequence[str], candle_types: Sequence[str]) -> list[tuple[CandleType, str]]:
    """The files `download-data --trading-mode futures --timeframes ... [--candle-types ...]` would store, as
    (candle type, timeframe) pairs in its order; see the module docstring. Unknown candle types raise ValueError."""
    unknown = [name for name in candle_types if name not in CANDLE_TYPES]
    if unknown:
        raise ValueError(f"unknown candle type {', '.join(unknown)}; freqtrade's futures candle types are "
                         f"{', '.join(CANDLE_TYPES)}")
    if candle_types:
        pairs = [(CANDLE_TYPES[name], tf) for name in candle_types for tf in timeframes if name != FUNDING_RATE]
    else:
        pairs = [(CANDLE_TYPES[FUTURES], tf) for tf in timeframes] + [(CANDLE_TYPES[MARK], MARK_TIMEFRAME)]
    if not candle_types or FUNDING_RATE in candle_types:
        pairs.append((CANDLE_TYPES[FUNDING_RATE], FUNDING_TIMEFRAME))
    return list(dict.fromkeys(pairs))


def export_futures(conn: duckdb.DuckDBPyConnection, *, symbol: str, datadir: str | Path,
                   timeframes: Iterable[str] = (), candle_types: Iterable[str] = (), start: datetime | None,
                   end: datetime | None, fmt: str = "feather", overwrite: bool = False,
                   datasets: Mapping[str, Dataset] = DATASETS) -> list[Written]:
    """Write `symbol`'s data with times in [start, end) under `datadir` in freqtrade's futures layout; return the
    files written. `timeframes` empty means the futures candles' base timeframe.

    All or nothing: every file's rows are read first, and ValueError (a symbol that is not a perpetual, an unknown
    format, candle type or timeframe, a candle type no declared dataset holds), EmptyExportError (a file that would
    be empty, named) or FileExistsError (a file there without `overwrite`) leave every file untouched.
    """
    instrument = Instrument.parse(symbol)
    if instrument.market != "swap":
        raise ValueError(f"{symbol} is a {instrument.kind}; freqtrade's futures layout holds perpetuals such as "
                         f"{instrument.base}/{instrument.quote}:{instrument.quote}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} for freqtrade; use one of {list(FORMATS)}")
    chosen = plan(timeframes=list(timeframes) or [_base(conn, symbol, datasets)], candle_types=list(candle_types))
    frames = {(ct.name, tf): _read(conn, symbol=symbol, candle_type=ct, timeframe=tf, start=start, end=end,
                                   dataset=_dataset(ct, datasets)) for ct, tf in chosen}
    empty = [f"{name} {tf}" for (name, tf), frame in frames.items() if frame.is_empty()]
    if empty:
        raise EmptyExportError(f"no {symbol} {', '.join(empty)} stored in {window_text(start, end)}: nothing "
                               f"written under {datadir}")
    targets = {key: Path(datadir) / pair_filename(symbol, timeframe=key[1], candle_type=key[0], fmt=fmt)
               for key in frames}
    existing = [str(path) for path in targets.values() if path.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist(s); pass overwrite=True (--overwrite) to replace")
    return [Written(path=targets[key], candle_type=key[0], timeframe=key[1],
                    rows=write_atomically(targets[key], overwrite=overwrite,
                                          write=lambda partial, frame=frame: _write(frame, partial, fmt)))
            for key, frame in frames.items()]


def _base(conn: duckdb.DuckDBPyConnection, symbol: str, datasets: Mapping[str, Dataset]) -> str:
    return base_timeframe(conn, symbol, dataset=_dataset(CANDLE_TYPES[FUTURES], datasets))


def _dataset(candle_type: CandleType, datasets: Mapping[str, Dataset]) -> Dataset:
    try:
        return datasets[candle_type.dataset]
    except KeyError:
        raise ValueError(f"no dataset holds freqtrade's {candle_type.name} data: {candle_type.dataset} is not "
                         f"declared") from None


def _read(conn: duckdb.DuckDBPyConnection, *, symbol: str, candle_type: CandleType, timeframe: str,
          start: datetime | None, end: datetime | None, dataset: Dataset) -> pl.DataFrame:
    """The file's rows: `date` (UTC, milliseconds) and freqtrade's columns for the candle type."""
    query, params = window_query(conn, dataset=dataset, symbol=symbol, timeframe=timeframe if candle_type.ohlcv
                                 else None, start=start, end=end, select=f"ts AS date, {candle_type.select}")
    frame = conn.sql(query, params=params).pl()
    return frame.with_columns(pl.col("date").dt.replace_time_zone("UTC").dt.cast_time_unit("ms"))


def _write(frame: pl.DataFrame, path: Path, fmt: str) -> int:
    if fmt == "feather":
        frame.write_ipc(path, compression="lz4")
    elif fmt == "parquet":
        frame.write_parquet(path)
    else:  # Python's float repr reads back to the same double
        rows = frame.with_columns(pl.col("date").dt.epoch("ms")).rows()
        path.write_text(json.dumps(rows, allow_nan=False))
    return frame.height
