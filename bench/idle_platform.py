"""What a running platform costs while it does nothing: CPU seconds per process over a quiet window.

`datafactory up` against the emulator with (b)'s universe (`--symbols`, 200 USDT pairs from (b)'s start; healing
off, nothing to fill), a settling minute (`--settle`) for the first sensor ticks and the code location, then the CPU
each process of the platform used over `--window` seconds. The daemon's share is what its sensors cost every minute
of a platform left running; at 200 symbols it was chiefly the rollups' automation sensor (automation/rollups.py).
Prints one JSON line with the per-process CPU seconds and the daemon's CPU seconds per minute.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from harness import platform_env, start_emulator, start_platform, stop, tree_cpu_seconds, write_config
from history import END, WORKLOADS, listed_symbols

DAEMON = "dagster._daemon run"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=WORKLOADS["b"]["symbols"])
    parser.add_argument("--settle", type=float, default=60.0, help="Seconds before the window starts.")
    parser.add_argument("--window", type=float, default=120.0, help="Seconds the CPU is counted over.")
    args = parser.parse_args()
    emulator, url = start_emulator(budget=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            start = END - timedelta(days=WORKLOADS["b"]["days"])
            config = write_config(workdir, listed_symbols(url, args.symbols, market="spot"), start)
            platform, _ = start_platform(platform_env(workdir, config=config, emulator_url=url), workdir)
            try:
                time.sleep(args.settle)
                before = tree_cpu_seconds(platform.pid)
                time.sleep(args.window)
                used = {name: round(seconds - before.get(name, 0.0), 1)
                        for name, seconds in tree_cpu_seconds(platform.pid).items()}
            finally:
                stop(platform)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    print(json.dumps({"symbols": args.symbols, "window_s": args.window, "cpu_s": used,
                      "daemon_cpu_s_per_min": round(60 * used.get(DAEMON, 0.0) / args.window, 2)}))


if __name__ == "__main__":
    main()
