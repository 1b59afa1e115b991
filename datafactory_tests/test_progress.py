"""Backfill and history progress, read from a warehouse filled through the real asset code."""

import io
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.hourly import open_hour
from datafactory_assets.progress import Meter, Tally, follow, report_history, tally, total
from datafactory_assets.series import Series
from datafactory_assets.warehouse.queries import Completeness
from datafactory_tests.helpers import symbol_settings

BTC = symbol_settings()


def hour(h: int) -> datetime:
    return datetime(2024, 3, 1, tzinfo=UTC) + timedelta(hours=h)


def test_a_tally_counts_complete_hours_of_the_ranges_asked_and_candles_in_their_span(warehouse, sources):
    path = warehouse.path
    assert tally(path, {Series(BTC): [(hour(0), hour(3))]}) == [Tally("BTC/USDT", 4, 0, 0, 240)]
    ingest_window(BTC, start=hour(0), end=hour(6), sources=sources, warehouse=warehouse)
    assert tally(path, {Series(BTC): [(hour(0), hour(1)), (hour(5), hour(7))]}) == [Tally("BTC/USDT", 5, 3, 360, 120)]
    eth = symbol_settings("ETH/USDT")
    assert total(tally(path, {Series(BTC): [(hour(6), hour(6))], Series(eth): []})) == Tally("all", 1, 0, 0, 60)


def test_a_perpetuals_dataset_is_tallied_from_its_own_table(warehouse, sources):
    from datafactory_assets.datasets import MARK_CANDLES
    from datafactory_assets.settings import SymbolSettings

    perp = SymbolSettings(symbol="BTC/USDT:USDT", timeframe="1m", start=hour(0), sources=("binance",),
                          datasets=("perp_candles", "mark_candles"))
    ingest_window(perp, start=hour(0), end=hour(2), sources=sources, warehouse=warehouse, dataset=MARK_CANDLES)
    plan = {Series(perp, "mark_candles"): [(hour(0), hour(3))], Series(perp, "perp_candles"): [(hour(0), hour(3))]}
    assert tally(warehouse.path, plan) == [Tally("mark_candles BTC/USDT:USDT", 4, 2, 120, 120),
                                           Tally("perp_candles BTC/USDT:USDT", 4, 0, 0, 240)]


def test_a_fill_of_several_datasets_counts_each_in_its_unit_and_their_sum_in_rows(warehouse):
    """Before, every line said candle(s), a fill's open-interest readings too."""
    from datafactory_assets.settings import SymbolSettings

    perp = SymbolSettings(symbol="BTC/USDT:USDT", timeframe="1m", start=hour(0), sources=("binance",),
                          datasets=("open_interest",))
    plan = {Series(BTC): [(hour(0), hour(0))], Series(perp, "open_interest"): [(hour(0), hour(7))]}
    out = io.StringIO()
    follow(measure=lambda: tally(warehouse.path, plan), poll=lambda: (True, "runs: done"),
           meter=Meter(tally(warehouse.path, plan), time.monotonic()), console=Console(file=out, width=200),
           timeout_s=60, every_s=0, line_every_s=0)
    summed, *totals = out.getvalue().splitlines()
    assert " rows/s, ETA " in summed
    assert [line.split(" stored in ")[0].split(", ")[-1] for line in totals] == [
        "0 candle(s)", "0 open-interest reading(s)", "0 row(s)"]
    assert totals[1].endswith(" open-interest readings/s)") and totals[0].endswith(" candles/s)")


def test_funding_is_tallied_in_hours_holding_their_due_events_and_events_stored_without_a_total(warehouse,
                                                                                                   sources):
    """Before, a funding series had no tally: its rows per hour do not exist (VenueCadenceError)."""
    from datafactory_assets.datasets import FUNDING_RATES
    from datafactory_assets.settings import SymbolSettings

    perp = SymbolSettings(symbol="BTC/USDT:USDT", timeframe="1m", start=hour(0), sources=("binance",),
                          datasets=("perp_candles", "funding_rates"))
    plan = {Series(perp, "perp_candles"): [(hour(0), hour(1))], Series(perp, "funding_rates"): [(hour(0), hour(23))]}
    assert tally(warehouse.path, plan)[1] == Tally("funding_rates BTC/USDT:USDT", 24, 0, 0, None, "funding event")
    ingest_window(perp, start=hour(0), end=hour(24), sources=sources, warehouse=warehouse, dataset=FUNDING_RATES)
    with warehouse.connect() as conn:  # one event lost: its hour alone is not done
        conn.execute("DELETE FROM funding_rates WHERE ts = ?", [hour(8).replace(tzinfo=None)])
    tallies = tally(warehouse.path, plan)
    assert tallies == [Tally("perp_candles BTC/USDT:USDT", 2, 0, 0, 120),
                       Tally("funding_rates BTC/USDT:USDT", 24, 23, 2, None, "funding event")]
    # the sum counts every hour, but rows and an ETA only of the candles: no one knows how many events are to come
    assert total(tallies) == Tally("all", 26, 23, 0, 120, "candle")
    line = Meter(tallies, 0).describe(tallies[1], 10)
    assert line == ("23/24 h (96%), 2 funding events stored, 0 funding events/s, "
                    "no ETA (funding events come at the venue's intervals)")


def test_following_a_funding_only_backfill_shows_hours_and_events_never_an_eta(warehouse, sources):
    from datafactory_assets.datasets import FUNDING_RATES
    from datafactory_assets.settings import SymbolSettings

    funding = SymbolSettings(symbol="BTC/USDT:USDT", timeframe="1m", start=hour(0), sources=("binance",),
                             datasets=("funding_rates",))
    plan = {Series(funding, "funding_rates"): [(hour(0), hour(23))]}
    polls = []

    def poll():
        polls.append(1)
        if len(polls) == 2:  # the backfill's one range run commits
            ingest_window(funding, start=hour(0), end=hour(24), sources=sources, warehouse=warehouse,
                          dataset=FUNDING_RATES)
        return len(polls) == 2, f"runs: {len(polls) - 1} of 1 finished"

    out = io.StringIO()
    follow(measure=lambda: tally(warehouse.path, plan), poll=poll,
           meter=Meter(tally(warehouse.path, plan), time.monotonic()), console=Console(file=out, width=200),
           timeout_s=60, every_s=0, line_every_s=0)
    waiting, finished, summary = out.getvalue().splitlines()
    assert waiting.split(" ", 1)[1] == ("0/24 h (0%), 0 funding events stored, 0 funding events/s, no ETA (funding "
                                        "events come at the venue's intervals); runs: 0 of 1 finished")
    assert finished.split(" ", 1)[1].startswith("24/24 h (100%), 3 funding events stored, ")
    assert finished.endswith(" funding events/s, ETA done; runs: 1 of 1 finished")
    assert summary.startswith("funding_rates BTC/USDT:USDT: 24 of 24 hour(s) complete, 3 funding event(s) stored in ")
    assert "%" not in summary and "ETA" not in summary


def filling(warehouse, sources, hours: int):
    """A poll that stores the next hour each time it is asked, as the backfill's runs would, and says when all
    `hours` are there."""
    stored = []

    def poll():
        ingest_window(BTC, start=hour(len(stored)), end=hour(len(stored) + 1), sources=sources, warehouse=warehouse)
        stored.append(1)
        return len(stored) == hours, f"runs: {len(stored)} of {hours} launched finished"

    return poll


def test_in_a_pipe_progress_is_plain_lines_and_ends_with_the_totals(warehouse, sources):
    plan = {Series(BTC): [(hour(0), hour(3))]}
    out = io.StringIO()
    meter = Meter(tally(warehouse.path, plan), time.monotonic())
    follow(measure=lambda: tally(warehouse.path, plan), poll=filling(warehouse, sources, 4), meter=meter,
           console=Console(file=out, width=200), timeout_s=60, every_s=0, line_every_s=0)
    lines = out.getvalue().splitlines()
    assert [line.split(" ", 1)[1].split(",")[0] for line in lines[:4]] == [
        "1/4 h (25%)", "2/4 h (50%)", "3/4 h (75%)", "4/4 h (100%)"]
    assert "candles/s, ETA done; runs: 4 of 4 launched finished" in lines[3]
    assert lines[4].startswith("BTC/USDT: 4 of 4 hour(s) complete, 240 candle(s) stored in 0:00:")
    assert "\x1b[" not in out.getvalue()


def test_in_a_terminal_progress_is_a_live_bar_per_symbol_and_their_sum(warehouse, sources):
    eth = symbol_settings("ETH/USDT")
    plan = {Series(BTC): [(hour(0), hour(1))], Series(eth): [(hour(0), hour(1))]}
    out = io.StringIO()
    follow(measure=lambda: tally(warehouse.path, plan), poll=filling(warehouse, sources, 2),
           meter=Meter(tally(warehouse.path, plan), time.monotonic()),
           console=Console(file=out, width=200, force_terminal=True), timeout_s=60, every_s=0)
    text = out.getvalue()
    assert "\x1b[" in text and "━" in text
    assert "BTC/USDT" in text and "2/2 h (100%)" in text and "all" in text and "2/4 h (50%)" in text
    assert "all: 2 of 4 hour(s) complete, 120 candle(s) stored" in text


def test_a_backfill_still_running_at_the_deadline_is_a_timeout(warehouse):
    plan = {Series(BTC): [(hour(0), hour(0))]}
    with pytest.raises(TimeoutError, match=r"still running after 0s \(runs: 0 of 1 launched finished\)"):
        follow(measure=lambda: tally(warehouse.path, plan), poll=lambda: (False, "runs: 0 of 1 launched finished"),
               meter=Meter(tally(warehouse.path, plan), time.monotonic()), console=Console(file=io.StringIO()),
               timeout_s=0)


def test_a_reading_a_writer_keeps_waiting_is_skipped_and_the_next_one_shown(warehouse, sources):
    import threading

    plan = {Series(BTC): [(hour(0), hour(0))]}
    meter = Meter(tally(warehouse.path, plan), time.monotonic())
    writing, release = threading.Event(), threading.Event()

    def writer():
        with warehouse.connect():
            writing.set()
            release.wait(30)

    threading.Thread(target=writer).start()
    writing.wait(30)
    polls = []

    def poll():
        polls.append(1)
        if len(polls) == 2:
            release.set()
            ingest_window(BTC, start=hour(0), end=hour(1), sources=sources, warehouse=warehouse)
        return len(polls) >= 2, f"poll {len(polls)}"

    out = io.StringIO()
    follow(measure=lambda: tally(warehouse.path, plan, lock_timeout_s=0.3), poll=poll, meter=meter,
           console=Console(file=out, width=200), timeout_s=60, every_s=0, line_every_s=0)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "1/1 h (100%)" in lines[0] and lines[0].endswith("; poll 2"), lines


def test_up_prints_a_history_line_when_the_stored_history_changes(tmp_path, warehouse, sources):
    config = tmp_path / "datafactory.toml"
    config.write_text('[defaults]\nstart = "2024-03-01"\n[symbols]\n"BTC/USDT" = {}\n')
    configured = {(open_hour() - hour(0)) // timedelta(minutes=1)}
    ingest_window(BTC, start=hour(0), end=hour(2), sources=sources, warehouse=warehouse)
    out = io.StringIO()
    stop = report_history({"DATAFACTORY_CONFIG": str(config), "DATAFACTORY_WAREHOUSE": warehouse.path}, out=out,
                          every_s=0.05)
    try:
        wait_for_lines(out, 1)
        ingest_window(BTC, start=hour(2), end=hour(3), sources=sources, warehouse=warehouse)
        wait_for_lines(out, 2)
    finally:
        stop.set()
    configured.add((open_hour() - hour(0)) // timedelta(minutes=1))  # an hour may have closed
    first, second = out.getvalue().splitlines()[:2]
    # the summary `datafactory status` ends with: candles from the configured start to the last closed hour
    assert first in {f"history: {Completeness(e, 120, 0, 0, e - 120).summary()}" for e in configured}
    assert any(second.startswith(f"history: {Completeness(e, 180, 0, 0, e - 180).summary()}; ") for e in configured)
    assert second.endswith(" candles/s") and not second.endswith(" 0 candles/s")


def wait_for_lines(out: io.StringIO, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(out.getvalue().splitlines()) < count:
        assert time.monotonic() < deadline, out.getvalue()
        time.sleep(0.02)


def cpu_ticks(thread: threading.Thread) -> int:
    """The clock ticks of CPU (user + system) the thread has used."""
    stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return int(stat[11]) + int(stat[12])


def test_up_waits_for_a_warehouse_not_created_yet_without_keeping_a_core_busy(tmp_path, warehouse, sources):
    config = tmp_path / "datafactory.toml"
    config.write_text('[defaults]\nstart = "2024-03-01"\n[symbols]\n"BTC/USDT" = {}\n')
    out = io.StringIO()
    stop = report_history({"DATAFACTORY_CONFIG": str(config), "DATAFACTORY_WAREHOUSE": warehouse.path}, out=out,
                          every_s=60, retry_s=0.2)
    try:
        reporter = next(t for t in threading.enumerate() if t.name == "history-report")
        time.sleep(1)  # the first look may pay for imports; what counts is the waiting after it
        before = cpu_ticks(reporter)
        time.sleep(2)
        assert cpu_ticks(reporter) - before <= 10, "clock ticks of CPU without a warehouse"  # asking at once: ~200
        assert out.getvalue() == ""
        ingest_window(BTC, start=hour(0), end=hour(1), sources=sources, warehouse=warehouse)
        wait_for_lines(out, 1)  # found within `retry_s`, not `every_s`
    finally:
        stop.set()
