"""Binance kline pages into ccxt's OHLCV rows at a fraction of ccxt's cost, with ccxt's exact result.

ccxt's `parse_ohlcvs` turns every field of every row through `safe_number_2` -> `safe_string_2` -> `parse_number`,
then re-reads every time through `safe_integer` to filter by `since`: 2 to 2.6 times the CPU of converting the
same page column by column (bench/kline_parse.py), and about a tenth of a backfill's run workers' samples (py-spy on
`bench/history.py --workload b`). The request stays ccxt's (URL, parameters, signing, errors); only the
conversion of a parsed JSON page into rows is replaced, on the client instance, for clients whose `parse_ohlcv` is
`binance.parse_ohlcv` (spot `binance`, USD-M `binanceusdm`; their mark, index and premium-index klines go through the
same method). Reading the raw page into Polars columns parses the numbers faster still, but the fetch loop needs
ccxt's rows (the page's last time, its row count against the raw answer), which would then be rebuilt.

The fast path takes a page only when every row is in the shape ccxt's conversion cannot treat differently: a list
holding the volume field, an integer open time below 2**53 (ccxt reads it through float), and value fields that
are strings, floats or ints which `float()` reads (what ccxt's `parse_number` does with `str(value)`). Any other
page (a None, "", "abc", a bool, a dict or short row, an empty page) goes whole to ccxt's own method, so its nulls
and the `BrokenAnswerError` the source raises for rows ccxt drops stay exactly as before.
"""

from __future__ import annotations

from operator import itemgetter

import ccxt

_EXACT_MS = 2**53  # int(float(t)) == t below it: ccxt's safe_integer reads the open time through float
_NUMBER_TYPES = frozenset({str, float, int})  # float(v) == ccxt's float(str(v)) for these, or both fail


def install_fast_parse(exchange) -> bool:
    """Replace `exchange.parse_ohlcvs` (this instance only) with one that returns what ccxt's would, where the
    client's rows are Binance klines and its numbers floats; True when installed."""
    if type(exchange).parse_ohlcv is not ccxt.binance.parse_ohlcv or exchange.number is not float:
        return False
    ccxt_parse = exchange.parse_ohlcvs

    def parse_ohlcvs(ohlcvs, market=None, timeframe="1m", since=None, limit=None, tail=False):
        volume_at = 7 if exchange.safe_bool(market, "inverse") is True else 5  # binance.parse_ohlcv's choice
        rows = kline_rows(ohlcvs, volume_at=volume_at)
        if rows is None:
            return ccxt_parse(ohlcvs, market, timeframe, since, limit, tail)
        return _since_limit(exchange, exchange.sort_by(rows, 0), since=since, limit=limit, tail=tail)

    exchange.parse_ohlcvs = parse_ohlcvs
    return True


def kline_rows(page, *, volume_at: int) -> list[list] | None:
    """`[open_ms, open, high, low, close, volume]` per kline of a well-formed page (volume at `volume_at`), as
    `binance.parse_ohlcv` gives them, in page order; None when any row is not well-formed (see the module
    docstring), or the page is empty."""
    if type(page) is not list or not page or set(map(type, page)) != {list} or min(map(len, page)) <= volume_at:
        return None
    opened, *values = zip(*map(itemgetter(0, 1, 2, 3, 4, volume_at), page))
    if set(map(type, opened)) != {int} or min(opened) <= -_EXACT_MS or max(opened) >= _EXACT_MS:
        return None
    if any(not set(map(type, column)) <= _NUMBER_TYPES for column in values):
        return None
    try:
        numbers = [list(map(float, column)) for column in values]
    except (ValueError, OverflowError):  # "" or "abc" (ccxt: None); an int beyond a float (ccxt: inf)
        return None
    return list(map(list, zip(opened, *numbers)))


def _since_limit(exchange, rows: list[list], *, since, limit, tail) -> list[list]:
    """ccxt's `filter_by_since_limit` over rows whose open times are ints: the `since` filter without reading each
    time back through `safe_integer`; the limit is ccxt's own `filter_by_limit`."""
    if since is not None:
        rows = [row for row in rows if row[0] != 0 and row[0] >= since]
    if tail and limit is not None:
        return exchange.array_slice(rows, -limit)
    return exchange.filter_by_limit(rows, limit, 0, not tail and since is not None)
