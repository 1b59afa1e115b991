"""What one range run's per-partition events cost its run worker: CPU seconds and a split by phase.

`bench/history.py --workload b` runs 4 range runs of 50 one-symbol candle steps x 168 hourly partitions; this runs one
of them in this process on the shipped embedded instance (the dagster.yaml `datafactory up` writes, with
`dagster_environment()`), against the emulator with Binance's budget enforced, so a profiler sees only the run worker.
Prints the run's CPU seconds and, per phase, the CPU seconds spent in it and not in a phase nested in it (Dagster's
logging of an event wraps the instance's handling of it, which wraps the storage write, which wraps serialization).
Counting costs about 1 us per call, a few ms per run. The machine is shared: compare CPU seconds, alternating trees.
Under py-spy: `py-spy record -r 100 -f raw -o run.spy -- python bench/range_run.py`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import time
from collections import Counter
from functools import wraps
from pathlib import Path

from step_profile import emulated_universe

# (label, module, class, function): what the run's CPU time is reported under; the rest is the steps' own work (fetch,
# warehouse, checks) and Dagster's execution around them
_PHASES = (
    ("dagster logging of events (record, message, handlers)", "dagster._core.log_manager", "DagsterLogHandler",
     "emit"),
    ("instance.handle_new_event (outside the storage)", "dagster._core.instance.methods.event_methods",
     "EventMethods", "handle_new_event"),
    ("storage: store_event", "datafactory_assets.instance.event_logs", "BatchingSqliteEventLogStorage",
     "store_event"),
    ("storage: store_event_batch", "datafactory_assets.instance.event_logs", "BatchingSqliteEventLogStorage",
     "store_event_batch"),
    ("storage: building a row (serializing its event)", "datafactory_assets.instance.event_logs",
     "BatchingSqliteEventLogStorage", "_event_to_row"),
    ("storage: asset event tags", "datafactory_assets.instance.event_logs", "BatchingSqliteEventLogStorage",
     "_store_asset_event_tags"),
)


class PhaseClock:
    """Exclusive thread-CPU seconds per phase: a phase's time minus that of the phases called inside it."""

    def __init__(self):
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._stack: list[list] = []

    def wrap(self, label: str, function):
        @wraps(function)
        def timed(*args, **kwargs):
            frame = [label, time.thread_time(), 0.0]
            self._stack.append(frame)
            try:
                return function(*args, **kwargs)
            finally:
                self._stack.pop()
                spent = time.thread_time() - frame[1]
                self.seconds[label] += spent - frame[2]
                self.calls[label] += 1
                if self._stack:
                    self._stack[-1][2] += spent
        return timed

    def install(self) -> None:
        for label, module, owner, name in _PHASES:
            target = getattr(importlib.import_module(module), owner)
            setattr(target, name, self.wrap(label, getattr(target, name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--no-split", action="store_true", help="Do not count phases (under a profiler).")
    args = parser.parse_args()
    with emulated_universe(count=args.symbols, days=args.days) as (symbols, tags):
        from datafactory_assets.instance.environment import dagster_environment
        from datafactory_assets.instance.profiles import write_instance_config
        os.environ.update(dagster_environment(os.environ))
        write_instance_config(Path(os.environ["DAGSTER_HOME"]))
        import dagster as dg

        from datafactory_assets.definitions import defs
        clock = PhaseClock()
        if not args.no_split:
            clock.install()
        keys = {dg.AssetKey(["candles", s.lower().replace("/", "_")]) for s in symbols}
        job = defs.get_implicit_global_asset_job_def().get_subset(asset_selection=keys)
        with dg.DagsterInstance.get() as instance:
            cpu, began = time.process_time(), time.perf_counter()
            result = job.execute_in_process(instance=instance, tags=tags)
            cpu, seconds = time.process_time() - cpu, time.perf_counter() - began
    partitions = args.symbols * args.days * 24
    for label, *_ in _PHASES:
        if clock.calls[label]:
            print(f"{clock.seconds[label]:7.2f} CPU-s {clock.calls[label]:6d} calls  {label}")
    rest = cpu - sum(clock.seconds.values())
    print(f"{rest:7.2f} CPU-s                the rest (the steps' own work, Dagster's execution)")
    print(json.dumps({"success": result.success, "cpu_s": round(cpu, 2), "seconds": round(seconds, 2),
                      "cpu_ms_per_partition": round(1000 * cpu / partitions, 3), "partitions": partitions,
                      "phases_cpu_s": {label: round(s, 2) for label, s in clock.seconds.items()}}))


if __name__ == "__main__":
    main()
