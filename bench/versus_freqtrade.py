"""The same download through freqtrade and through Data-Factory, whole command against whole command.

Workload: 4 pairs x 30 days of 1m candles from the exchange emulator (its Binance dialect), fresh and then re-run.
  freqtrade     `freqtrade download-data --timeframes 1m --timerange START-END` with a config whose ccxt URLs point
                at the emulator (`ccxt_config`, the same URL rewrite our sources use); freqtrade's own attempt at the
                bulk archive fails at once here (no such host) and it falls back to REST klines, as it does offline;
  datafactory   `datafactory backfill --from --to --wait` against a running `datafactory up` (webserver + daemon, the
                shipped embedded instance settings, healing off), its sources pointed at the same emulator.
freqtrade is not one of our dependencies: install it apart, for example
`python -m venv .venv-freqtrade && .venv-freqtrade/bin/pip install freqtrade` (`make bench-freqtrade` does that), and
pass `--freqtrade PATH` (default: .venv-freqtrade/bin/freqtrade). Prints one final JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import ccxt
import polars as pl

from harness import BIN, ROOT, platform_env, start_emulator, start_platform, stop, stored_candles, write_config

from datafactory_assets.sources.ccxt_source import point_at_emulator

PAIRS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "ADA/USDT")
START = datetime(2024, 3, 1, tzinfo=UTC)
DAYS = 30
END = START + timedelta(days=DAYS)


def freqtrade_config(workdir: Path, emulator_url: str) -> Path:
    """A spot, dry-run config for the pairs whose every Binance URL is the emulator's."""
    api = point_at_emulator(ccxt.binance().urls["api"], base_url=emulator_url, venue="binance")
    ccxt_config = {"urls": {"api": api}, "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False}}
    user_data = workdir / "user_data"
    config = {
        "exchange": {"name": "binance", "key": "", "secret": "", "ccxt_config": ccxt_config,
                     "ccxt_async_config": ccxt_config, "pair_whitelist": list(PAIRS)},
        "stake_currency": "USDT", "dry_run": True, "trading_mode": "spot", "user_data_dir": str(user_data),
        "datadir": str(user_data / "data" / "binance"), "pairlists": [{"method": "StaticPairList"}],
        "entry_pricing": {}, "exit_pricing": {},
    }
    path = workdir / "freqtrade.json"
    path.write_text(json.dumps(config))
    return path


def run_freqtrade(freqtrade: Path, config: Path) -> float:
    """Wall time of one `download-data` over the window."""
    began = time.perf_counter()
    subprocess.run([str(freqtrade), "download-data", "-c", str(config), "--timeframes", "1m",
                    "--timerange", f"{START:%Y%m%d}-{END:%Y%m%d}"], check=True, capture_output=True)
    return time.perf_counter() - began


def freqtrade_candles(datadir: Path) -> int:
    """Candles freqtrade stored inside the window (its last page may reach past the end)."""
    frames = [pl.read_ipc(path) for path in datadir.glob("*-1m.feather")]
    window = (pl.col("date") >= START) & (pl.col("date") < END)
    return sum(frame.filter(window).height for frame in frames)


def run_backfill(env: dict, url: str) -> float:
    began = time.perf_counter()
    subprocess.run([str(BIN / "datafactory"), "backfill", "--from", f"{START:%Y-%m-%d}",
                    "--to", f"{END - timedelta(days=1):%Y-%m-%d}", "--url", url, "--wait"], env=env, check=True,
                   capture_output=True)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--freqtrade", type=Path, default=ROOT / ".venv-freqtrade" / "bin" / "freqtrade")
    args = parser.parse_args()
    if not args.freqtrade.exists():
        raise SystemExit(f"no freqtrade at {args.freqtrade}: run `make bench-freqtrade` or pass --freqtrade PATH")
    emulator, url = start_emulator(budget=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            config = freqtrade_config(workdir, url)
            subprocess.run([str(args.freqtrade), "create-userdir", "--userdir", str(workdir / "user_data")],
                           check=True, capture_output=True)
            ft_fresh, ft_rerun = run_freqtrade(args.freqtrade, config), run_freqtrade(args.freqtrade, config)
            ft_rows = freqtrade_candles(workdir / "user_data" / "data" / "binance")
            env = platform_env(workdir, config=write_config(workdir, list(PAIRS), START), emulator_url=url)
            platform, web = start_platform(env, workdir)
            try:
                ours_fresh, ours_rerun = run_backfill(env, web), run_backfill(env, web)
            finally:
                stop(platform)
            ours_rows = stored_candles(env["DATAFACTORY_WAREHOUSE"], start=START, end=END)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    expected = len(PAIRS) * DAYS * 1440
    assert ours_rows == expected and ft_rows == expected, (ours_rows, ft_rows, expected)
    print(f"freqtrade download-data    : fresh {ft_fresh:.1f}s, re-run {ft_rerun:.1f}s")
    print(f"datafactory backfill --wait: fresh {ours_fresh:.1f}s, re-run {ours_rerun:.1f}s ({expected} candles)")
    print(json.dumps({"candles": expected, "freqtrade_fresh_s": round(ft_fresh, 2),
                      "freqtrade_rerun_s": round(ft_rerun, 2), "ours_fresh_s": round(ours_fresh, 2),
                      "ours_rerun_s": round(ours_rerun, 2), "fresh_ratio": round(ours_fresh / ft_fresh, 2),
                      "rerun_ratio": round(ours_rerun / ft_rerun, 2)}))


if __name__ == "__main__":
    main()
