"""Vectorized JSON encoding of candle pages, the emulator's hot path.

A page is described as a row template: literal bytes interleaved with numpy columns. Integer columns print as
integers, float columns as fixed-point decimals with `FRACTION_DIGITS` digits (Binance's `"60000.12000000"`). All rows
are laid out at once in a byte matrix with one matrix row per output byte position (so every piece is written
contiguously) and NUL where a leading zero must vanish; one transpose and one `bytes.replace` finish the page. All
integer columns, and all float columns, are converted to digits together, so the cost hardly depends on how many
columns a dialect has. That is several times cheaper than formatting every number in Python.

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
    """`[row,row,...]` where each row is `parts` with every array replaced by that row's value.

    Literal parts must not contain NUL bytes (NUL marks the bytes to drop).
    """
    arrays = [part for part in parts if isinstance(part, np.ndarray)]
    rows = len(arrays[0]) if arrays else 0
    if rows == 0:
        return b"[]"
    integer = [np.issubdtype(array.dtype, np.integer) for array in arrays]
    int_pieces = _integers([a for a, is_int in zip(arrays, integer) if is_int])
    float_pieces = _decimals([a for a, is_int in zip(arrays, integer) if not is_int])
    if int_pieces is None or float_pieces is None:
        return _json_rows_slow(parts, rows)
    pieces: list[np.ndarray] = []
    for part in [*parts, b","]:
        if isinstance(part, bytes):
            pieces.append(np.frombuffer(part, dtype=np.uint8)[:, None])
        elif np.issubdtype(part.dtype, np.integer):
            pieces.extend(int_pieces.pop(0))
        else:
            pieces.extend(float_pieces.pop(0))
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


def _integers(columns: list[np.ndarray]) -> list[list[np.ndarray]] | None:
    """Per column: its sign and digit pieces."""
    if not columns:
        return []
    values = np.vstack(columns).astype(np.int64, copy=False)
    magnitude = np.abs(values)
    if (magnitude < 0).any():  # the int64 minimum has no positive counterpart: leave it to Python
        return None
    signs = _signs(values < 0)
    return [[sign, digits] for sign, digits in zip(signs, _digits(magnitude))]


def _decimals(columns: list[np.ndarray]) -> list[list[np.ndarray]] | None:
    """Per column: sign, whole digits, point and fraction pieces; None when a value can't be printed exactly so."""
    if not columns:
        return []
    values = np.vstack(columns).astype(np.float64, copy=False)
    magnitude = np.abs(values)
    tops = magnitude.max(axis=1)
    if not np.isfinite(tops).all():
        return None
    decimals = np.array([_decimals_for(float(top)) for top in tops], dtype=np.int64)[:, None]
    scaled = np.rint(magnitude * 10.0**decimals)
    if not (scaled < _EXACT_LIMIT).all() or not np.array_equal(scaled / 10.0**decimals, magnitude):
        return None
    whole, fraction = np.divmod(scaled.astype(np.int64), 10**decimals)
    signs = _signs(np.signbit(values) & (scaled > 0))
    point = np.frombuffer(b".", dtype=np.uint8)[:, None]
    fractions = _digits(fraction * 10 ** (FRACTION_DIGITS - decimals), width=FRACTION_DIGITS)
    return [[sign, digits, point, frac] for sign, digits, frac in zip(signs, _digits(whole), fractions)]


def _decimals_for(top: float) -> int:
    """The most decimals (up to FRACTION_DIGITS) that keep a column's scaled values exact integers."""
    decimals = FRACTION_DIGITS
    while decimals > 0 and top * 10.0**decimals >= _EXACT_LIMIT:
        decimals -= 1
    return decimals


def _signs(negative: np.ndarray) -> list[np.ndarray]:
    """Per column a one-byte row holding `-` where negative; zero height when nothing is (the usual case)."""
    if not negative.any():
        return [np.empty((0, negative.shape[1]), dtype=np.uint8)] * len(negative)
    return list(np.where(negative, ord("-"), 0).astype(np.uint8)[:, None, :])


def _digits(values: np.ndarray, *, width: int | None = None) -> list[np.ndarray]:
    """Per column (row of `values`), ASCII digits of non-negative ints, one output position per matrix row.

    Four digits per table look-up. Without `width`, each column is as wide as its widest value and leading zeros
    become NUL (the last digit always stays); with it, every column is `width` wide and leading zeros stay.
    """
    widths = [width or len(str(int(top))) for top in values.max(axis=1)]
    widest = max(widths)
    chunks = []
    rest = values
    for _ in range(-(-widest // 4)):
        quotient = rest // 10_000  # measurably cheaper than np.divmod
        chunks.append(_FOUR_DIGITS.take(rest - quotient * 10_000, axis=1))  # (4, columns, rows)
        rest = quotient
    digits = np.concatenate(chunks[::-1])[-widest:]  # (widest, columns, rows)
    if width is None and widest > 1:
        powers = 10 ** np.arange(widest - 1, 0, -1, dtype=np.int64)
        digits[:-1] *= values[None, :, :] >= powers[:, None, None]
    return [digits[widest - w :, column] for column, w in enumerate(widths)]


def _json_rows_slow(parts: Sequence[Part], rows: int) -> bytes:
    """The same page formatted value by value in Python, for columns the fast path cannot print exactly."""
    columns = [
        [part.decode()] * rows
        if isinstance(part, bytes)
        else [str(v) for v in part.tolist()]
        if np.issubdtype(part.dtype, np.integer)
        else [decimal_text(v) for v in part.tolist()]
        for part in parts
    ]
    return ("[" + ",".join("".join(cells) for cells in zip(*columns)) + "]").encode()
