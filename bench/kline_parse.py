"""What turning Binance kline pages into the candle frame costs: ccxt's parse and the row-oriented frame against the
fast parse (`sources/kline_rows.py`) and the column-built frame (`frames.candles_from_rows`).

The pages are real answers of the emulator's Binance dialect to a real ccxt client (`--pages` pages of 1,000 1m
klines of BTC/USDT, one after the other), kept as ccxt kept their JSON (`last_json_response`); each figure is the
best of `--repeat` rounds over all of them, in milliseconds per 1,000-row page, wall and CPU of this one process.
`frame` builds one frame per page; `frame_week` one frame from a week of rows (10,080), as `fetch_range` builds one
per window. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import ccxt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datafactory_assets.emulator.server import Emulator  # noqa: E402
from datafactory_assets.frames import candles_from_columns, candles_from_rows, row_oriented  # noqa: E402
from datafactory_assets.sources.ccxt_source import point_at_emulator  # noqa: E402
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


def old_frame(rows):
    return candles_from_columns(row_oriented(rows), symbol="BTC/USDT", source="binance")


def new_frame(rows):
    return candles_from_rows(rows, symbol="BTC/USDT", source="binance")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with Emulator(symbols=["BTC/USDT"]) as emulator:
        pages = recorded_pages(emulator.url, args.pages)
    ccxt_client, ours = ccxt.binance(), ccxt.binance()
    install_fast_parse(ours)
    parsed = [ccxt_client.parse_ohlcvs(page, MARKET, "1m", SINCE, 1000) for page in pages]
    fast = [ours.parse_ohlcvs(page, MARKET, "1m", SINCE, 1000) for page in pages]
    assert fast == parsed and all(new_frame(r).equals(old_frame(r)) for r in parsed)
    week = [row for rows in parsed for row in rows][:10_080]
    weeks = max(1, len(parsed) * 1000 // 10_080)

    def timed(work, per=len(pages)):
        return best_ms(work, rounds=args.repeat, pages=per)

    figures = {
        "parse_ccxt": timed(lambda: [ccxt_client.parse_ohlcvs(p, MARKET, "1m", SINCE, 1000) for p in pages]),
        "parse_fast": timed(lambda: [ours.parse_ohlcvs(p, MARKET, "1m", SINCE, 1000) for p in pages]),
        "frame_rows": timed(lambda: [old_frame(rows) for rows in parsed]),
        "frame_columns": timed(lambda: [new_frame(rows) for rows in parsed]),
        "frame_week_rows": timed(lambda: [old_frame(week) for _ in range(weeks)], per=weeks * 10.08),
        "frame_week_columns": timed(lambda: [new_frame(week) for _ in range(weeks)], per=weeks * 10.08),
    }
    before = figures["parse_ccxt"]["cpu_ms"] + figures["frame_week_rows"]["cpu_ms"]
    after = figures["parse_fast"]["cpu_ms"] + figures["frame_week_columns"]["cpu_ms"]
    for name, figure in figures.items():
        print(f"{name:20} {figure['wall_ms']:7.3f} ms wall {figure['cpu_ms']:7.3f} ms CPU per 1,000-row page")
    print(f"parse + frame (a week's frame per page share): ccxt {before:.3f} ms CPU, ours {after:.3f} ms CPU "
          f"({before / after:.1f}x)")
    print(json.dumps({"pages": len(pages), **{k: v["cpu_ms"] for k, v in figures.items()},
                      "before_cpu_ms": round(before, 3), "after_cpu_ms": round(after, 3)}))


if __name__ == "__main__":
    main()
