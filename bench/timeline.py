"""Where a benchmark's runs spent their time: each phase of every run on an instance, read from its event log.

`python bench/timeline.py` with DAGSTER_HOME set (bench/history.py calls it before its temporary
platform goes away). A run's phases end at its milestone events: queued (launch
request until enqueued), launch (the wait in the queue until the run worker is launched), run_worker_start (process,
imports, code location load, instance), steps (its steps one after the other, until the last one succeeded) and
run_end. Each step's time is split in two: `step_body` from its start to its first materialization (fetch, validate,
write, metadata) and `step_events` from there to its success (storing the materializations, the checks). Prints the
median of each phase per kind of run (candles, rollups...), the steps' summed per run, then one JSON line per run
(seconds from its creation). Only Dagster's public instance API is used.
"""

from __future__ import annotations

import argparse
import json
import statistics

import dagster as dg

E = dg.DagsterEventType
# (phase, the event that ends it, whether its first or last occurrence counts); a phase starts where the previous ends
MILESTONES = (
    ("queued", E.RUN_ENQUEUED, "first"),
    ("launch", E.RUN_STARTING, "first"),
    ("run_worker_start", E.RUN_START, "first"),
    ("steps", E.STEP_SUCCESS, "last"),
    ("run_end", E.RUN_SUCCESS, "first"),
)
STEP_EVENTS = {E.STEP_START, E.ASSET_MATERIALIZATION, E.STEP_SUCCESS}


def run_phases(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Seconds from the run's creation to each milestone it reached, and its steps' body and event times summed."""
    created = instance.get_run_record_by_id(run_id).create_timestamp.timestamp()
    types = {event_type for _, event_type, _ in MILESTONES} | STEP_EVENTS
    first: dict[E, float] = {}
    last: dict[E, float] = {}
    step_marks: dict[str, dict[E, float]] = {}
    for entry in instance.all_logs(run_id, of_type=types):
        kind, at = entry.dagster_event_type, entry.timestamp - created
        first.setdefault(kind, at)
        last[kind] = at
        if kind in STEP_EVENTS:
            step_marks.setdefault(entry.step_key, {}).setdefault(kind, at)
    reached = {name: round((first if which == "first" else last)[kind], 2) for name, kind, which in MILESTONES
               if kind in first}
    done = [m for m in step_marks.values() if E.ASSET_MATERIALIZATION in m and E.STEP_SUCCESS in m]
    reached["step_body"] = round(sum(m[E.ASSET_MATERIALIZATION] - m[E.STEP_START] for m in done), 2)
    reached["step_events"] = round(sum(m[E.STEP_SUCCESS] - m[E.ASSET_MATERIALIZATION] for m in done), 2)
    return reached


def phase_lengths(reached: dict[str, float]) -> dict[str, float]:
    """Each phase's length: its milestone minus the previous milestone the run reached."""
    lengths, previous = {}, 0.0
    for name, _, _ in MILESTONES:
        if name in reached:
            lengths[name] = reached[name] - previous
            previous = reached[name]
    return {**lengths, "step_body": reached["step_body"], "step_events": reached["step_events"]}


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
        names = [name for name, _, _ in MILESTONES] + ["step_body", "step_events"]
        medians = {name: round(statistics.median(x[name] for x in lengths if name in x), 2)
                   for name in names if any(name in x for x in lengths)}
        print(f"{group}: {len(lengths)} runs, median seconds per phase {json.dumps(medians)}")
    for record, reached in per_run:
        print(json.dumps({"run": record.dagster_run.run_id[:8], "group": run_group(record.dagster_run),
                          "created": round(record.create_timestamp.timestamp() - first, 2), **reached}))


def run_group(run: dg.DagsterRun) -> str:
    """What a run materializes, by the first part of its assets' keys (`candles`, `rollups`...), or its job."""
    return "+".join(sorted({key.path[0] for key in run.asset_selection or ()})) or run.job_name


if __name__ == "__main__":
    main()
