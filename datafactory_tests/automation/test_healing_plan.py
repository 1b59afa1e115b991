"""The healing policy: cap per tick, order, adjacency, in-flight runs, back-off and giving up."""

from datetime import datetime, timedelta

from datafactory_assets.automation.healing_plan import HealingMemory, partition_id, partition_key, plan_tick
from datafactory_assets.settings import HealingSettings

H0 = datetime(2025, 1, 1)


def hours(*offsets: int) -> list[datetime]:
    return [H0 + timedelta(hours=o) for o in offsets]


def pid(symbol: str, offset: int) -> str:
    return partition_id(symbol, partition_key(H0 + timedelta(hours=offset)))


def ranges(hour_list: list[datetime]) -> list[tuple[datetime, datetime]]:
    """Sorted hours as the [first, stop) ranges the warehouse query answers with."""
    spans: list[list[datetime]] = []
    for hour in sorted(hour_list):
        if spans and spans[-1][1] == hour:
            spans[-1][1] = hour + timedelta(hours=1)
        else:
            spans.append([hour, hour + timedelta(hours=1)])
    return [(first, stop) for first, stop in spans]


def plan(incomplete, *, memory=None, in_flight=(), now=1000.0, per_run=720, run_group=str, **healing):
    return plan_tick({symbol: ranges(h) for symbol, h in incomplete.items()}, in_flight=in_flight,
                     memory=memory or HealingMemory(), now=now,
                     settings=HealingSettings(**healing), partitions_per_run=per_run, run_group=run_group)


def test_adjacent_hours_share_a_run_and_a_hole_in_between_splits_them():
    tick = plan({"BTC/USDT": hours(0, 1, 2, 5, 6)}, order="oldest")
    assert [(r.symbol, r.partition_keys) for r in tick.runs] == [
        ("BTC/USDT", ("2025-01-01-00:00", "2025-01-01-01:00", "2025-01-01-02:00")),
        ("BTC/USDT", ("2025-01-01-05:00", "2025-01-01-06:00")),
    ]


def test_symbols_of_one_source_needing_the_same_hours_share_a_run_and_the_cap_counts_shared_runs():
    missing = {"BTC/USDT": hours(*range(8)), "ETH/USDT": hours(*range(8)), "SOL/USDT": hours(*range(4))}
    one = plan(missing, per_run=4, max_runs_per_tick=1, run_group=lambda symbol: "binance")
    assert [(r.symbol, r.partition_keys[0], len(r.partition_keys)) for r in one.runs] == [
        ("BTC/USDT", "2025-01-01-04:00", 4), ("ETH/USDT", "2025-01-01-04:00", 4)]
    two = plan(missing, per_run=4, max_runs_per_tick=2, run_group=lambda symbol: "binance")
    assert {(r.symbol, r.partition_keys[0]) for r in two.runs} == {
        (s, h) for s in ("BTC/USDT", "ETH/USDT") for h in ("2025-01-01-00:00", "2025-01-01-04:00")} | {
        ("SOL/USDT", "2025-01-01-00:00")}
    apart = plan(missing, per_run=4, max_runs_per_tick=1)  # each symbol its own group: one symbol's range a run
    assert [r.symbol for r in apart.runs] == ["BTC/USDT"]


def test_runs_are_capped_per_tick_and_by_partitions_per_run_newest_first_by_default():
    tick = plan({"BTC/USDT": hours(*range(10)), "ETH/USDT": hours(20)}, per_run=4, max_runs_per_tick=2)
    assert [(r.symbol, r.partition_keys[0], len(r.partition_keys)) for r in tick.runs] == [
        ("ETH/USDT", "2025-01-01-20:00", 1), ("BTC/USDT", "2025-01-01-08:00", 2)]
    oldest = plan({"BTC/USDT": hours(*range(10)), "ETH/USDT": hours(20)}, per_run=4, max_runs_per_tick=2,
                  order="oldest")
    assert [r.partition_keys[0] for r in oldest.runs] == ["2025-01-01-00:00", "2025-01-01-04:00"]


def test_partitions_a_run_is_busy_with_are_not_asked_for_and_split_the_range():
    tick = plan({"BTC/USDT": hours(0, 1, 2)}, in_flight={pid("BTC/USDT", 1)}, order="oldest")
    assert [r.partition_keys for r in tick.runs] == [("2025-01-01-00:00",), ("2025-01-01-02:00",)]


def test_an_hour_still_incomplete_is_asked_again_after_a_doubling_back_off_then_given_up():
    incomplete = {"BTC/USDT": hours(3)}
    first = plan(incomplete, now=0, backoff_s=10, max_backoff_s=15, max_attempts=3)
    assert len(first.runs) == 1 and first.memory.due[pid("BTC/USDT", 3)] == 10
    waiting = plan(incomplete, memory=first.memory, now=9, backoff_s=10, max_backoff_s=15, max_attempts=3)
    assert waiting.runs == []
    second = plan(incomplete, memory=waiting.memory, now=10, backoff_s=10, max_backoff_s=15, max_attempts=3)
    assert len(second.runs) == 1 and second.memory.due[pid("BTC/USDT", 3)] == 10 + 15  # 20 capped at 15
    third = plan(incomplete, memory=second.memory, now=25, backoff_s=10, max_backoff_s=15, max_attempts=3)
    assert len(third.runs) == 1
    done = plan(incomplete, memory=third.memory, now=1000, backoff_s=10, max_backoff_s=15, max_attempts=3)
    assert done.runs == [] and done.gave_up == [pid("BTC/USDT", 3)]
    again = plan(incomplete, memory=done.memory, now=2000, max_attempts=3)
    assert again.runs == [] and again.gave_up == []  # reported once


def test_memory_forgets_hours_that_became_complete_and_survives_the_cursor():
    tick = plan({"BTC/USDT": hours(1, 2)}, now=0)
    restored = HealingMemory.from_cursor(tick.memory.to_cursor())
    assert restored == tick.memory
    later = plan({"BTC/USDT": hours(2)}, memory=restored, now=0)
    assert set(later.memory.attempts) == {pid("BTC/USDT", 2)}


def test_years_of_missing_hours_for_hundreds_of_symbols_only_spell_out_the_runs_asked_for():
    """200 symbols missing ten years each (17.5M hours): the answer needs only the few runs the tick asks for."""
    stop = H0 + timedelta(days=3650)
    incomplete = {f"S{i}/USDT": [(H0, stop)] for i in range(200)}
    busy = {partition_id("S0/USDT", partition_key(stop - timedelta(hours=2)))}
    tick = plan_tick(incomplete, in_flight=busy, memory=HealingMemory(), now=0.0,
                     settings=HealingSettings(max_runs_per_tick=3), partitions_per_run=720)
    assert [(r.symbol, r.partition_keys[0], len(r.partition_keys)) for r in tick.runs] == [
        ("S0/USDT", partition_key(stop - timedelta(hours=1)), 1),  # the busy hour splits S0's range ...
        ("S0/USDT", partition_key(H0 + timedelta(hours=87_120)), 478),  # ... runs are cut from the oldest hour
        ("S1/USDT", partition_key(H0 + timedelta(hours=87_120)), 480),  # 87,600 = 121 * 720 + 480
    ]
    assert len(tick.memory.attempts) == 1 + 478 + 480
