"""What turning Binance kline pages into the candle frame costs: ccxt's parse against the fast parse
(`sources/kline_rows.py`), and the frame built from rows (`frames.candles_from_rows`) against one built from columns.

The emulator runs in its own process (`datafactory emulator`), so the CPU time measured is this client's alone.
Per page: `--pages` real answers of its Binance dialect to a real ccxt client (1,000 1m klines of BTC/USDT each), as
ccxt kept their JSON (`last_json_response`); each figure is the best of `--repeat` rounds over all of them, in
milliseconds per 1,000-row page, wall and CPU. The frame from the rows of an hourly run (62), a page (1,000) and
a backfill's week (10,080), as `fetch_range` builds one per window: by rows as `candles_from_rows` does, and from
columns (`zip(*rows)`) with the type checks that keep its frame identical for any rows. Through the source:
`CcxtCandleSource.fetch_range` of a week
for `--symbols` pairs (the request, the checks of each answer, the frame), with the fast parse and with ccxt's own
method back, alternating, `--rounds` times; the best round's CPU seconds of each. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta
from pathlib import Path

import ccxt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import start_emulator, stop  # noqa: E402
from history import END, listed_symbols  # noqa: E402

import polars as pl  # noqa: E402

from datafactory_assets.frames import _ROW_SCHEMA, candles_from_columns, candles_from_rows  # noqa: E402
from datafactory_assets.sources.ccxt_source import CcxtCandleSource, point_at_emulator  # noqa: E402
from datafactory_assets.sources.kline_rows import install_fast_parse  # noqa: E402

SINCE = 1_704_067_200_000  # 2024-01-01, a closed past window
MARKET = {"inverse": False}


def recorded_pages(url: str, count: int) -> list[list]:
    """`count` consecutive 1,000-row kline pages as the client received them."""
    client = ccxt.binance({"options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False}})
    client.urls["api"] = point_at_emulator(client.urls["api"], base_url=url, venue="binance")
    client.enableLastJsonResponse = True
    pages = []
    for i in range(count):
        client.fetch_ohlcv("BTC/USDT", "1m", since=SINCE + i * 60_000_000, limit=1000)
        pages.append(client.last_json_response)
    return pages


def best_ms(work, *, rounds: int, pages: int) -> dict[str, float]:
    """The best round's wall and CPU milliseconds per page."""
    wall = cpu = float("inf")
    for _ in range(rounds):
        w0, c0 = time.perf_counter(), time.process_time()
        work()
        wall, cpu = min(wall, time.perf_counter() - w0), min(cpu, time.process_time() - c0)
    return {"wall_ms": round(wall * 1000 / pages, 3), "cpu_ms": round(cpu * 1000 / pages, 3)}


def column_frame(rows):
    """The candle frame from the rows' columns, where the type checks show the row path would build the same frame
    (six fields, int times within Int64, float or null values); else by rows. Measured here, not used: see main."""
    if set(map(type, rows)) <= {list, tuple} and set(map(len, rows)) == {6}:
        opened, *values = zip(*rows)
        if (set(map(type, opened)) == {int} and -(2**63) <= min(opened) and max(opened) < 2**63
                and all(set(map(type, column)) <= {float, type(None)} for column in values)):
            frame = pl.DataFrame(dict(zip(_ROW_SCHEMA, [opened, *values])), schema=_ROW_SCHEMA)
            return candles_from_columns(frame, symbol="BTC/USDT", source="binance")
    return candles_from_rows(rows, symbol="BTC/USDT", source="binance")


def row_frame(rows):
    return candles_from_rows(rows, symbol="BTC/USDT", source="binance")


def fetch_cpu_s(url: str, symbols: list[str], *, fast: bool) -> float:
    """CPU seconds of this process for a week of each symbol through `CcxtCandleSource.fetch_range`."""
    source = CcxtCandleSource("binance", emulator_url=url)
    if not fast:
        del source.exchange.parse_ohlcvs  # ccxt's own method back
    began = time.process_time()
    for symbol in symbols:
        assert source.fetch_range(symbol, start=END - timedelta(days=7), end=END, timeframe="1m").frame.height
    return time.process_time() - began


def per_page(pages: list[list], *, repeat: int) -> dict[str, dict[str, float]]:
    """The per-page figures (see the module docstring), after checking both ways give the same rows and frames."""
    ccxt_client, ours = ccxt.binance(), ccxt.binance()
    install_fast_parse(ours)
    parsed = [ccxt_client.parse_ohlcvs(page, MARKET, "1m", SINCE, 1000) for page in pages]
    assert [ours.parse_ohlcvs(page, MARKET, "1m", SINCE, 1000) for page in pages] == parsed
    rows = [row for page in parsed for row in page]
    figures = {
        "parse_ccxt": best_ms(lambda: [ccxt_client.parse_ohlcvs(p, MARKET, "1m", SINCE, 1000) for p in pages],
                              rounds=repeat, pages=len(pages)),
        "parse_fast": best_ms(lambda: [ours.parse_ohlcvs(p, MARKET, "1m", SINCE, 1000) for p in pages],
                              rounds=repeat, pages=len(pages)),
    }
    for size in (62, 1000, 10_080):
        chunks = [rows[i:i + size] for i in range(0, len(rows) - size + 1, size)]
        assert all(column_frame(chunk).equals(row_frame(chunk)) for chunk in chunks)
        per = len(chunks) * size / 1000
        figures[f"frame_{size}_rows"] = best_ms(lambda c=chunks: [row_frame(x) for x in c], rounds=repeat, pages=per)
        figures[f"frame_{size}_columns"] = best_ms(lambda c=chunks: [column_frame(x) for x in c], rounds=repeat,
                                                   pages=per)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    emulator, url = start_emulator(budget=False)
    try:
        figures = per_page(recorded_pages(url, args.pages), repeat=args.repeat)
        symbols = listed_symbols(url, args.symbols, market="spot")
        fetch = {"fast": [], "ccxt": []}
        for _ in range(args.rounds):
            for way in fetch:
                fetch[way].append(fetch_cpu_s(url, symbols, fast=way == "fast"))
    finally:
        stop(emulator)
    for name, figure in figures.items():
        print(f"{name:20} {figure['wall_ms']:7.3f} ms wall {figure['cpu_ms']:7.3f} ms CPU per 1,000 rows")
    before, after = figures["parse_ccxt"]["cpu_ms"], figures["parse_fast"]["cpu_ms"]
    print(f"parse per page: ccxt {before:.3f} ms CPU, ours {after:.3f} ms CPU ({before / after:.1f}x)")
    best = {way: round(min(cpu), 2) for way, cpu in fetch.items()}
    print(f"fetch_range, {len(symbols)} symbols x 7 days: ccxt's parse {best['ccxt']} CPU-s, ours {best['fast']} "
          f"CPU-s (rounds: ccxt {fetch['ccxt']}, ours {fetch['fast']})")
    print(json.dumps({"pages": args.pages, **{k: v["cpu_ms"] for k, v in figures.items()},
                      "page_before_cpu_ms": round(before, 3), "page_after_cpu_ms": round(after, 3),
                      "symbols": len(symbols), "fetch_ccxt_cpu_s": best["ccxt"], "fetch_fast_cpu_s": best["fast"]}))


if __name__ == "__main__":
    main()
