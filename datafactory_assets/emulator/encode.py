"""Vectorized JSON encoding of candle pages, the emulator's hot path.

A page is described as a row template: literal bytes interleaved with numpy columns. Integer columns print as
integers, float columns as fixed-point decimals with `FRACTION_DIGITS` digits (Binance's `"60000.12000000"`). All rows
are laid out at once in a byte matrix, one matrix row per output byte position (so every piece is written
contiguously), with NUL where a leading zero must vanish; one transpose and one `bytes.replace` finish the page. That
is several times cheaper than formatting every number in Python.

Every printed decimal parses back to exactly the float it came from. A column for which that cannot be guaranteed
cheaply (say a recorded value with ten decimals) sends the page through plain Python formatting, which falls back to
`repr` where eight decimals would lose digits.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FRACTION_DIGITS = 8
_EXACT_LIMIT = 1e15  # below this, rint(x * 10**d) is the right integer for any float x printed with d decimals
_FOUR_DIGITS = np.array([list(f"{i:04d}".encode()) for i in range(10_000)], dtype=np.uint8).T.copy()  # (4, 10000)

Part = bytes | np.ndarray


def json_rows(parts: Sequence[Part]) -> bytes:
    """`[row,row,...]` where each row is `parts` with every array replaced by that row's value."""
    arrays = [part for part in parts if isinstance(part, np.ndarray)]
    rows = len(arrays[0]) if arrays else 0
    if rows == 0:
        return b"[]"
    pieces: list[np.ndarray] = []
    for part in [*parts, b","]:
        if isinstance(part, bytes):
            pieces.append(np.frombuffer(part, dtype=np.uint8)[:, None])
            continue
        block = _integers(part) if np.issubdtype(part.dtype, np.integer) else _decimals(part)
        if block is None:
            return _json_rows_slow(parts, rows)
        pieces.extend(block)
    matrix = np.empty((sum(len(piece) for piece in pieces), rows), dtype=np.uint8)
    offset = 0
    for piece in pieces:
        matrix[offset : offset + len(piece)] = piece
        offset += len(piece)
    return b"[" + matrix.T.tobytes().replace(b"\0", b"")[:-1] + b"]"


def decimal_text(value: float) -> str:
    """One float as fixed-point text that parses back to it, e.g. `60000.12000000`."""
    text = f"{value:.{FRACTION_DIGITS}f}"
    return text if float(text) == value else repr(value)


def _integers(values: np.ndarray) -> list[np.ndarray] | None:
    values = values.astype(np.int64, copy=False)
    magnitude = np.abs(values)
    if (magnitude < 0).any():  # the int64 minimum has no positive counterpart: leave it to Python
        return None
    return [_sign(values < 0), _digits(magnitude)]


def _decimals(values: np.ndarray) -> list[np.ndarray] | None:
    """Fixed-point digits of `values`, or None when some value cannot be printed exactly this way."""
    values = values.astype(np.float64, copy=False)
    magnitude = np.abs(values)
    top = float(magnitude.max())
    if not np.isfinite(top):
        return None
    decimals = FRACTION_DIGITS
    while decimals > 0 and top * 10.0**decimals >= _EXACT_LIMIT:
        decimals -= 1
    scaled = np.rint(magnitude * 10.0**decimals)
    if top * 10.0**decimals >= _EXACT_LIMIT or not np.array_equal(scaled / 10.0**decimals, magnitude):
        return None
    whole, fraction = np.divmod(scaled.astype(np.int64), 10**decimals)
    pieces = [_sign(np.signbit(values) & (scaled > 0)), _digits(whole), np.frombuffer(b".", dtype=np.uint8)[:, None]]
    if decimals:
        pieces.append(_digits(fraction, width=decimals))
    return [*pieces, np.full((FRACTION_DIGITS - decimals, 1), ord("0"), dtype=np.uint8)]


def _sign(negative: np.ndarray) -> np.ndarray:
    """A one-byte row holding `-` where negative; zero height when nothing is (the usual case)."""
    if not negative.any():
        return np.empty((0, len(negative)), dtype=np.uint8)
    return np.where(negative, ord("-"), 0).astype(np.uint8)[None, :]


def _digits(values: np.ndarray, *, width: int | None = None) -> np.ndarray:
    """ASCII digits of non-negative ints, one output position per matrix row, four digits per table look-up.

    Without `width`, leading zeros become NUL (the last digit always stays); with it, they are kept.
    """
    keep_zeros = width is not None
    if width is None:
        width = len(str(int(values.max())))
    chunks = []
    rest = values
    for _ in range(-(-width // 4)):
        rest, low = np.divmod(rest, 10_000)
        chunks.append(_FOUR_DIGITS.take(low, axis=1))
    digits = np.vstack(chunks[::-1])[-width:]
    if not keep_zeros and int(values.min()) < 10 ** (width - 1):  # some value is shorter than the widest
        powers = 10 ** np.arange(width - 1, 0, -1, dtype=np.int64)
        digits[:-1] *= values[None, :] >= powers[:, None]
    return digits


def _json_rows_slow(parts: Sequence[Part], rows: int) -> bytes:
    columns = [
        [part.decode()] * rows
        if isinstance(part, bytes)
        else [str(v) for v in part.tolist()]
        if np.issubdtype(part.dtype, np.integer)
        else [decimal_text(v) for v in part.tolist()]
        for part in parts
    ]
    return ("[" + ",".join("".join(cells) for cells in zip(*columns)) + "]").encode()
