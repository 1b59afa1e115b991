"""What the healing sensor's funding query costs on a filled warehouse: `queries.incomplete_event_ranges` for every
perpetual in one query, as one tick asks it.

Fills a temporary DuckDB file through the real schema with `--symbols` perpetuals x `--days` of funding events
every 8 hours (the first half of the instruments move to 4 hours halfway, as Binance moved many), every
`--lose-every`th event left out, then times the query `--repeat` times over a read-only connection, as the sensor
opens it. Prints one JSON line: rows, events left out, the incomplete hours found (one per event left out) and
the wall seconds (best, median).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from datafactory_assets.datasets import FUNDING_RATES  # noqa: E402
from datafactory_assets.warehouse import WarehouseResource, queries  # noqa: E402

START = datetime(2024, 1, 1)
HOUR_MS = 3_600_000


def fill(warehouse: WarehouseResource, *, symbols: list[str], days: int, lose_every: int) -> tuple[int, int]:
    """Every instrument's events from START, 8-hourly, 4-hourly from halfway for the first half of them, every
    `lose_every`th left out: (rows stored, events left out)."""
    change = START + timedelta(days=days // 2)
    with warehouse.connect() as conn:
        conn.execute(
            """
            CREATE TEMP TABLE events AS
            SELECT *, row_number() OVER (PARTITION BY symbol ORDER BY ts) % $lose_every = 0 AS lost FROM (
                SELECT s.symbol, r.ts, CASE WHEN s.n <= $half AND r.ts >= $change THEN 4 ELSE 8 END AS hours
                FROM (SELECT unnest($names) AS symbol, generate_subscripts($names, 1) AS n) s,
                     range($start, $stop, INTERVAL 4 HOUR) r(ts))
            WHERE hours = 4 OR hour(ts) % 8 = 0
            """,
            {"names": symbols, "half": len(symbols) // 2, "change": change, "start": START,
             "stop": START + timedelta(days=days), "lose_every": lose_every})
        conn.execute("INSERT INTO funding_rates (symbol, ts, rate, mark_price, interval_ms, venue_ts, source, "
                     "ingested_at) SELECT symbol, ts, 0.0001, NULL, hours * ?, ts, 'binance', now() "
                     "FROM events WHERE NOT lost", [HOUR_MS])
        return conn.execute("SELECT count(*) FILTER (WHERE NOT lost), count(*) FILTER (WHERE lost) FROM events"
                            ).fetchall()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=200)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--lose-every", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    symbols = [f"C{i:03d}/USDT:USDT" for i in range(args.symbols)]
    until = START + timedelta(days=args.days)
    with tempfile.TemporaryDirectory() as folder:
        warehouse = WarehouseResource(path=str(Path(folder) / "warehouse.duckdb"))
        rows, lost = fill(warehouse, symbols=symbols, days=args.days, lose_every=args.lose_every)
        times, found = [], {}
        for _ in range(args.repeat):
            began = time.perf_counter()
            with warehouse.connect(read_only=True) as conn:
                found = queries.incomplete_event_ranges(conn, [(s, START) for s in symbols], until=until,
                                                        dataset=FUNDING_RATES)
            times.append(time.perf_counter() - began)
    hours = sum((stop - first) // timedelta(hours=1) for spans in found.values() for first, stop in spans)
    print(json.dumps({"symbols": args.symbols, "days": args.days, "rows": rows, "lost_events": lost,
                      "incomplete_hours": hours, "best_s": round(min(times), 3), "median_s": round(statistics.median(times), 3)}))


if __name__ == "__main__":
    main()
