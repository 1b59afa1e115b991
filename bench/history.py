"""Fill history the way a user does, and compare it with a plain fetch of the same candles.

One run, on one machine, against the exchange emulator in its own process:
  platform  `datafactory up` (webserver + daemon, the shipped embedded instance settings, healing off so only the
            backfill fills), then the wall time of `datafactory backfill --from --to --wait`, the whole command;
  raw       a plain ccxt fetch loop over the same window and symbols plus one DuckDB insert of the candles.
The raw pass runs first, with the venue's budget lifted: it measures how fast the venue serves. The budget is then
enforced afresh just before the backfill, once the calendar minute of the raw pass's last requests is over (Binance's
`X-MBX-USED-WEIGHT-1M`, which the platform heeds, counts every client of the IP in the current minute), so the
backfill starts with a whole window (bench/venue_budget.py).
Workloads (`--workload`):
  a  4 symbols x 365 days of 1m candles (the shipped sources chain, a past year, so the bulk archive serves it);
  b  200 symbols x 7 days of 1m, the emulator enforcing Binance's real request budget (`--budget binance`); also
     prints the code location's load time, one healing tick's time, the platform's peak RSS and `binance_budget`:
     the weight the backfill spent, the budget's floor for it, its busiest window, the requests refused, and the
     paced floors: when a client fetching at the raw pass's pace is done under the budget and under the platform's
     share of it (`budget_margin`). Its 4,032 weight fits one window of 6,000, so no client can be held back by the
     budget: the raw pass is the floor;
  p  4 USDⓈ-M perpetuals (the shipped symbols' `BTC/USDT:USDT` ...) x 365 days of `perp_candles` 1m, collecting that
     dataset alone, with the shipped perpetuals' sources chain (the bulk archive's futures/um klines first); the raw
     pass is ccxt `binanceusdm`.
`--symbols N` and `--days N` shrink a workload for a quick look, or grow it: `--workload b --days 28` needs about
16,000 weight, whose floor is two minutes, so the budget can be what bounds it; beyond one window the platform is
bound by the budget when it is done within seconds of the paced floor.
Prints one final JSON line with `candles`, `seconds`, `raw_seconds`, `ratio`, `ms_per_partition` (platform time
beyond the raw time, per hourly partition), `symbols`, `days` and `dataset`, and the CPU seconds the platform's
processes and the raw pass used (the machine is shared: CPU time is what the load from elsewhere does not inflate);
before it, where the platform's runs spent their time (bench/timeline.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import ccxt

from harness import (BIN, ROOT, platform_env, process_name, raw_pass, start_emulator, start_platform, stop,
                     stored_candles, tree_cpu_seconds, write_config)
from venue_budget import BUDGETS, enforce, paced_floor_s, spent

from datafactory_assets.datasets import DATASETS
from datafactory_assets.processes import descendants
from datafactory_assets.settings_models import ResilienceSection
from datafactory_assets.sources.ccxt_source import point_at_emulator
from datafactory_assets.sources.venues import venue_market

WORKLOADS = {"a": {"symbols": 4, "days": 365, "budget": False, "dataset": "candles"},
             "b": {"symbols": 200, "days": 7, "budget": True, "dataset": "candles"},
             "p": {"symbols": 4, "days": 365, "budget": False, "dataset": "perp_candles"}}
SHIPPED = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "ADA/USDT")
END = datetime(2025, 1, 1, tzinfo=UTC)  # a past window: closed, and published in the bulk archive


def listed_symbols(url: str, count: int, *, market: str) -> list[str]:
    """The shipped symbols first (as perpetuals for the swap market: `BTC/USDT:USDT`), then the emulator's other
    active USDT instruments of that market, as ccxt lists them."""
    client = venue_market("binance", market)
    exchange = getattr(ccxt, client.ccxt_class)({"options": dict(client.client_options)})
    exchange.urls["api"] = point_at_emulator(exchange.urls["api"], base_url=url, venue=client.ccxt_class)
    listed = {s for s, m in exchange.load_markets().items() if m["type"] == market and m["active"]
              and m["quote"] == "USDT" and m["settle"] in (None, "USDT")}
    shipped = [s if market == "spot" else f"{s}:USDT" for s in SHIPPED]
    symbols = [*(s for s in shipped if s in listed), *sorted(listed - set(shipped))][:count]
    if len(symbols) < count:
        raise SystemExit(f"the emulator lists {len(symbols)} USDT {market} instruments, fewer than the {count} asked "
                         "for")
    return symbols


class PeakRss:
    """Samples every process under `root` once a second and keeps the largest VmHWM (peak resident set) seen, with
    the process that had it (`harness.process_name`: a run worker is `multiprocessing.forkserver`)."""

    def __init__(self, root: int):
        self.root, self.peak_kb, self.peak_process, self._stop = root, 0, "", threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(1.0):
            for pid in [self.root, *descendants(self.root)]:
                try:
                    status, name = Path(f"/proc/{pid}/status").read_text(), process_name(pid)
                except OSError:
                    continue
                hwm = max([int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")],
                          default=0)
                if hwm > self.peak_kb:
                    self.peak_kb, self.peak_process = hwm, name

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_kb / 1024


def timed_load(env: dict) -> float:
    """Seconds `dagster definitions validate` takes to load the code location, as every Dagster process does."""
    Path(env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    subprocess.run([str(BIN / "dagster"), "definitions", "validate", "-m", "datafactory_assets.definitions"],
                   env=env, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - began


_TICK = """
import time, dagster as dg
from datafactory_assets.definitions import defs
sensor = defs.get_sensor_def("candles_healing")
with dg.DagsterInstance.get() as instance:
    began = time.perf_counter()
    with dg.build_sensor_context(instance=instance, resources={"warehouse": defs.resources["warehouse"]}) as ctx:
        result = sensor(ctx)
    print(time.perf_counter() - began, len(result.run_requests or []))
"""


def timed_healing_tick(env: dict) -> float:
    """One evaluation of the healing sensor over the whole universe, timed inside the process."""
    tick_env = {**env, "DATAFACTORY_CONFIG": env["DATAFACTORY_CONFIG"].replace(".toml", ".healing.toml")}
    Path(tick_env["DATAFACTORY_CONFIG"]).write_text(
        Path(env["DATAFACTORY_CONFIG"]).read_text().replace("enabled = false", "enabled = true"))
    out = subprocess.run([sys.executable, "-c", _TICK], env=tick_env, cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout.split()
    return float(out[0])


def paced(used: dict, *, rate: float) -> dict:
    """The backfill's budget figures with its floors for a client fetching at `rate` weight a second (the raw
    pass's), under Binance's budget and under the platform's share of it (`budget_margin`), and the candles a second
    each sustains over many windows (a kline page of 1,000 candles weighs 2)."""
    budget, margin = BUDGETS["binance"], ResilienceSection().budget_margin
    share = budget.amount * margin
    per_s = budget.amount / budget.window_s * 1000 / budget.weights["/api/v3/klines"]
    return {**used, "paced_floor_s": round(paced_floor_s(used["weight"], amount=budget.amount,
                                                         window_s=budget.window_s, rate=rate), 1),
            "share_paced_floor_s": round(paced_floor_s(used["weight"], amount=share, window_s=budget.window_s,
                                                       rate=rate), 1),
            "sustained_candles_s": round(per_s), "share_sustained_candles_s": round(per_s * margin)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="a")
    parser.add_argument("--symbols", type=int, help="Fewer symbols than the workload's.")
    parser.add_argument("--days", type=int, help="Fewer days than the workload's.")
    parser.add_argument("--partitions-per-run", type=int, help="[backfill] partitions_per_run (default: shipped).")
    args = parser.parse_args()
    workload = WORKLOADS[args.workload]
    days, count, dataset = args.days or workload["days"], args.symbols or workload["symbols"], workload["dataset"]
    start = END - timedelta(days=days)
    emulator, url = start_emulator(budget=workload["budget"])
    extra = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            symbols = listed_symbols(url, count, market=DATASETS[dataset].market)
            config = write_config(workdir, symbols, start, partitions_per_run=args.partitions_per_run,
                                  dataset=dataset)
            env = platform_env(workdir, config=config, emulator_url=url)
            if workload["budget"]:
                enforce(url, "binance", on=False)
            raw_cpu, raw_began = time.process_time(), time.time()
            raw_candles, raw_seconds = raw_pass(url, symbols, start=start, end=END, database=workdir / "raw.duckdb",
                                                dataset=dataset)
            raw_cpu = time.process_time() - raw_cpu
            if workload["budget"]:
                raw_weight = spent(url, "binance", since=raw_began, until=time.time())["weight"]
            if args.workload == "b":
                extra["load_s"] = round(timed_load(env), 2)
            raw_minute = int(time.time() // 60)
            platform, web = start_platform(env, workdir)
            if workload["budget"]:  # Binance's used-weight header counts the raw pass's calendar minute too
                time.sleep(max(0.0, (raw_minute + 1) * 60 + 0.5 - time.time()))
                enforce(url, "binance", on=True)
            rss = PeakRss(platform.pid)
            try:
                cpu_before, began, wall_began = tree_cpu_seconds(platform.pid), time.perf_counter(), time.time()
                subprocess.run([str(BIN / "datafactory"), "backfill", "--from", f"{start:%Y-%m-%d}",
                                "--to", f"{END - timedelta(days=1):%Y-%m-%d}", "--url", web, "--wait",
                                "--timeout", "86400"], env=env, check=True)
                seconds = time.perf_counter() - began
                cpu = {name: round(used - cpu_before.get(name, 0.0), 1)
                       for name, used in tree_cpu_seconds(platform.pid).items()}
                print(f"platform CPU seconds during the backfill, per process: {json.dumps(cpu)}")
                if workload["budget"]:
                    extra["binance_budget"] = paced(spent(url, "binance", since=wall_began),
                                                    rate=raw_weight / raw_seconds)
            finally:
                peak_mb = rss.stop()
                stop(platform)
            candles = stored_candles(env["DATAFACTORY_WAREHOUSE"], start=start, end=END, dataset=dataset)
            subprocess.run([sys.executable, str(ROOT / "bench" / "timeline.py")], env=env, cwd=ROOT, check=True)
            if args.workload == "b":
                extra["healing_tick_s"] = round(timed_healing_tick(env), 2)
                extra["peak_rss_mb"], extra["peak_rss_process"] = round(peak_mb), rss.peak_process
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    window = count * days * 1440
    assert candles == raw_candles, (candles, raw_candles)  # the platform stored what the venue serves, all of it
    if raw_candles < window:  # the emulator lists a pair within or after the window (its listing dates)
        print(f"the venue serves {raw_candles:,} of the window's {window:,} candle slots (pairs listed later)")
    partitions = count * days * 24
    print(f"platform: {candles} candles in {seconds:.1f}s ({candles / seconds:,.0f}/s) through datafactory backfill "
          f"--wait; raw ccxt loop + one insert: {raw_seconds:.1f}s ({raw_candles / raw_seconds:,.0f}/s)")
    if "binance_budget" in extra:
        used = extra["binance_budget"]
        print(f"binance budget {used['budget']}: the backfill spent {used['weight']:,} weight (busiest window "
              f"{used['busiest_window_weight']:,}; window by window {', '.join(f'{w:,}' for w in used['windows'])}), "
              f"{used['refused']} request(s) refused; the budget admits that "
              f"weight in {used['floor_s']:.0f}s at the earliest, the venue served it to the raw pass in "
              f"{raw_seconds:.1f}s; a client fetching at the raw pass's pace is done under the budget in "
              f"{used['paced_floor_s']:.1f}s, under the platform's share of it in {used['share_paced_floor_s']:.1f}s "
              f"(the platform took {seconds / used['share_paced_floor_s']:.2f} times that); over many windows the "
              f"budget sustains {used['sustained_candles_s']:,} candles/s, the platform's share "
              f"{used['share_sustained_candles_s']:,}")
    print(json.dumps({"candles": candles, "seconds": round(seconds, 2), "raw_seconds": round(raw_seconds, 2),
                      "ratio": round(seconds / raw_seconds, 2),
                      "ms_per_partition": round(1000 * (seconds - raw_seconds) / partitions, 2),
                      "platform_cpu_s": round(sum(cpu.values()), 1), "raw_cpu_s": round(raw_cpu, 1),
                      "symbols": count, "days": days, "dataset": dataset, **extra}))


if __name__ == "__main__":
    main()
