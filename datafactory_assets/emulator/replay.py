"""Recorded candle files the emulator serves verbatim, so tests can reproduce a venue's real holes and oddities.

Nothing is repaired: holes stay holes, duplicates stay duplicates, odd values stay odd. Only content that is not a
candle at all (wrong arity, text where a number belongs) is refused, with the file and row named.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from pathlib import Path

import polars as pl

from datafactory_assets.emulator.candles import SCHEMA

logger = logging.getLogger(__name__)

COLUMNS = tuple(SCHEMA)


def load_replay(path: str | os.PathLike) -> pl.DataFrame:
    """Read a JSON array of `[open_ms, open, high, low, close, volume]` rows or a CSV of the same columns."""
    path = Path(path)
    text = path.read_text()
    if text.lstrip()[:1] in ("[", "{"):
        rows = _json_rows(path, text)
    else:
        rows = _csv_rows(path, text)
    frame = pl.DataFrame(rows, schema=SCHEMA, orient="row").sort("open_ms", maintain_order=True)
    logger.info("replay %s: %d candles", path, frame.height)
    return frame


def _json_rows(path: Path, text: str) -> list[tuple]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"replay file {path}: not valid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise ValueError(f"replay file {path}: expected a JSON array of rows, got {type(data).__name__}")
    return [_candle(path, f"row {index + 1}", raw) for index, raw in enumerate(data)]


def _csv_rows(path: Path, text: str) -> list[tuple]:
    lines = [(number, row) for number, row in enumerate(csv.reader(text.splitlines()), start=1) if row]
    if lines and [cell.strip().lower() for cell in lines[0][1]] == list(COLUMNS):
        lines = lines[1:]
    return [_candle(path, f"line {number}", row) for number, row in lines]


def _candle(path: Path, where: str, raw) -> tuple:
    if not isinstance(raw, list | tuple) or len(raw) != len(COLUMNS):
        raise ValueError(
            f"replay file {path}, {where}: expected {len(COLUMNS)} values [{', '.join(COLUMNS)}], got {raw!r}"
        )
    try:
        open_ms = _integer(raw[0])
        values = [float(_number(value)) for value in raw[1:]]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"replay file {path}, {where}: {raw!r} is not a candle ({exc})") from exc
    if not all(math.isfinite(value) for value in values):
        raise ValueError(f"replay file {path}, {where}: {raw!r} holds a non-finite number")
    return (open_ms, *values)


def _integer(value) -> int:
    """Open times must be whole, non-negative milliseconds; `1.7e12` or `"1700000000000"` pass, `12.5` does not."""
    value = _number(value)
    number = value if isinstance(value, int) else float(value)
    if (isinstance(number, float) and not number.is_integer()) or not 0 <= number < 2**53:
        raise ValueError(f"open_ms {value!r} is not a whole, non-negative number of milliseconds")
    return int(number)


def _number(value) -> int | float | str:
    """A JSON number or a numeric string (recorded Binance answers quote their decimals); booleans are not numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"{value!r} is not a number")
    return value.strip() if isinstance(value, str) else value
