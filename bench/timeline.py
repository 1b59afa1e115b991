"""Where a benchmark's runs spent their time: each phase of every run on an instance, read from its event log.

`python bench/timeline.py` with DAGSTER_HOME set (bench/history.py calls it before its temporary
platform goes away). A run's phases are the gaps between its milestone events (the first of each type): queued, the
daemon's dequeue, the run worker's start (process, imports, code location load, planning), the step's process and
resources, the step itself (fetch, write, checks, metadata), the events it writes, and the end of the run. Prints the
median of each phase per kind of run (candles, rollups...), then one JSON line per run (seconds from its creation). Only Dagster's
public instance API is used.
"""

from __future__ import annotations

import argparse
import json
import statistics

import dagster as dg

E = dg.DagsterEventType
# (phase name, the event that ends it); a phase starts where the previous one ended
MILESTONES = (
    ("queued", E.RUN_ENQUEUED),
    ("dequeue", E.RUN_DEQUEUED),
    ("launch", E.RUN_STARTING),
    ("run_worker_start", E.RUN_START),
    ("step_worker_start", E.STEP_WORKER_STARTED),
    ("resources", E.RESOURCE_INIT_SUCCESS),
    ("step_begins", E.STEP_START),
    ("step_body", E.ASSET_MATERIALIZATION),
    ("step_end", E.STEP_SUCCESS),
    ("run_end", E.RUN_SUCCESS),
)


def run_phases(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Seconds from the run's creation to the first event of each milestone it reached."""
    record = instance.get_run_record_by_id(run_id)
    created = record.create_timestamp.timestamp()
    types = {event_type for _, event_type in MILESTONES}
    first: dict[str, float] = {}
    for entry in instance.all_logs(run_id, of_type=types):
        first.setdefault(entry.dagster_event_type.value, entry.timestamp - created)
    return {name: round(first[event_type.value], 2) for name, event_type in MILESTONES if event_type.value in first}


def phase_lengths(reached: dict[str, float]) -> dict[str, float]:
    """Each phase's length: its milestone minus the previous milestone the run reached."""
    lengths, previous = {}, 0.0
    for name, _ in MILESTONES:
        if name in reached:
            lengths[name] = reached[name] - previous
            previous = reached[name]
    return lengths


def main() -> None:
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args()
    with dg.DagsterInstance.get() as instance:
        records = sorted(instance.get_run_records(), key=lambda r: r.create_timestamp)
        per_run = [(r, run_phases(instance, r.dagster_run.run_id)) for r in records]
    if not records:
        print("no runs")
        return
    first = records[0].create_timestamp.timestamp()
    print(f"{len(records)} runs over {max(r.end_time or first for r in records) - first:.1f}s")
    groups: dict[str, list[dict[str, float]]] = {}
    for record, reached in per_run:
        groups.setdefault(run_group(record.dagster_run), []).append(phase_lengths(reached))
    for group, lengths in groups.items():
        medians = {name: round(statistics.median(x[name] for x in lengths if name in x), 2)
                   for name, _ in MILESTONES if any(name in x for x in lengths)}
        print(f"{group}: {len(lengths)} runs, median seconds per phase {json.dumps(medians)}")
    for record, reached in per_run:
        print(json.dumps({"run": record.dagster_run.run_id[:8], "group": run_group(record.dagster_run),
                          "created": round(record.create_timestamp.timestamp() - first, 2), **reached}))


def run_group(run: dg.DagsterRun) -> str:
    """What a run materializes, by the first part of its assets' keys (`candles`, `rollups`...), or its job."""
    return "+".join(sorted({key.path[0] for key in run.asset_selection or ()})) or run.job_name


if __name__ == "__main__":
    main()
