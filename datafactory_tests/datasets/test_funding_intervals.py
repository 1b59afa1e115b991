"""Each funding event's interval, read from the venue's schedule: a change is a change, a lost event is not."""

import polars as pl

from datafactory_assets.datasets.funding_intervals import DEFAULT_INTERVAL_MS, with_intervals

H = 3_600_000


def intervals(hours, *, stated_ms=None):
    events = pl.DataFrame({"slot_ms": [h * H for h in hours]}, schema={"slot_ms": pl.Int64})
    return [ms // H for ms in with_intervals(events, stated_ms=stated_ms)["interval_ms"]]


def test_a_change_from_8h_to_4h_takes_effect_at_the_first_event_spaced_4h():
    assert intervals([0, 8, 16, 24, 28, 32, 36]) == [8, 8, 8, 4, 4, 4, 4]


def test_an_event_lost_between_others_keeps_the_interval_before_it():
    assert intervals([0, 8, 24, 32, 40]) == [8, 8, 8, 8, 8]
    assert intervals([0, 4, 8, 16, 20, 24]) == [4, 4, 4, 4, 4, 4]


def test_a_spacing_seen_once_counts_when_the_venue_states_it_and_an_answer_without_spacing_takes_the_stated_one():
    assert intervals([0, 8, 16, 20], stated_ms=4 * H) == [8, 8, 4, 4]
    assert intervals([0, 8, 16, 20]) == [8, 8, 8, 8]
    assert intervals([16], stated_ms=4 * H) == [4]
    assert intervals([16]) == [DEFAULT_INTERVAL_MS // H]
