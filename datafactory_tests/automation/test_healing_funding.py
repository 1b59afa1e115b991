"""The healing sensor filling and healing funding events, evaluated against a real Dagster instance with the runs it
asks for executed for real through the `funding_rates` asset, the real ccxt client, the emulator and a DuckDB file."""

import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import numpy as np
import pytest
from click.testing import CliRunner

from datafactory_assets.cli import main
from datafactory_assets.datasets import FUNDING_RATES
from datafactory_assets.emulator.candles import unit_hash
from datafactory_assets.emulator.perp_series import funding_events
from datafactory_assets.warehouse import queries
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.settings import SymbolSettings
from datafactory_tests.automation.test_healing import RANGE_START, Healer, settings_for
from datafactory_tests.helpers import ms

EIGHT_HOURS, EIGHT_HOURS_MS = timedelta(hours=8), 28_800_000
PERP_VENUES = ("binanceusdm", "okx", "bybit")


def closed_hour() -> datetime:
    """The start of the current hour, after waiting out an hour about to close: the sensor's `until` must not move
    while a test runs (a closing hour may hold a due event)."""
    now = datetime.now(UTC)
    if now.minute >= 58:
        time.sleep(60 * (60 - now.minute) - now.second + 1)
        now = datetime.now(UTC)
    return now.replace(minute=0, second=0, microsecond=0)


def stored_times(warehouse, symbol: str) -> list[int]:
    with warehouse.connect(read_only=True) as conn:
        return [t for (t,) in conn.execute("SELECT epoch_ms(ts) FROM funding_rates WHERE symbol = ? ORDER BY ts",
                                           [symbol]).fetchall()]


def test_a_tick_fills_funding_history_then_a_lost_event_is_asked_for_as_its_hour_alone(emulator, warehouse):
    until = closed_hour()
    start = datetime.fromtimestamp(ms(until) // EIGHT_HOURS_MS * EIGHT_HOURS_MS / 1000, UTC) - 3 * EIGHT_HOURS
    symbol = SymbolSettings(symbol="BTC/USDT:USDT", timeframe="1m", start=start, sources=("binance",),
                            datasets=("funding_rates",))
    healer = Healer(settings_for(symbol, warehouse, emulator.url), symbol,
                    {"warehouse": warehouse, "sources": SourcesResource(emulator_url=emulator.url)},
                    dataset=FUNDING_RATES)
    (request,) = healer.tick().run_requests  # nothing stored, its interval not known yet: the whole span, one run
    assert request.tags[RANGE_START] == f"{start:%Y-%m-%d-%H:%M}"
    assert request.asset_selection == [dg.AssetKey(["funding_rates", "btc_usdt"])]
    assert healer.run(request)
    want = funding_events(symbol.symbol, ms(start), ms(until))["open_ms"].to_list()
    assert stored_times(warehouse, symbol.symbol) == want and len(want) >= 3
    assert healer.tick().run_requests == []  # the hours between events hold none due: complete

    lost = start + EIGHT_HOURS
    with warehouse.connect() as conn:
        conn.execute("DELETE FROM funding_rates WHERE symbol = ? AND ts = ?",
                     [symbol.symbol, lost.replace(tzinfo=None)])
    (request,) = healer.tick().run_requests
    assert request.partition_key == f"{lost:%Y-%m-%d-%H:%M}" and RANGE_START not in request.tags
    assert healer.run(request) and stored_times(warehouse, symbol.symbol) == want
    assert healer.tick().run_requests == []


def losing_one_inner_event(until: datetime) -> tuple[datetime, datetime, float]:
    """A start on BTC's 8-hour grid at least a day before `until` such that, of the events any run of [start, until)
    fetches (a day's margin before; up to now after), the holes fault at the returned fraction drops exactly one,
    strictly between two events of [start, until): a lost event with one stored before it (or nothing is due) and
    one after it (or the gaps view, which lists what lies between stored events, has nothing to show).
    Returns the start, the lost event's time and the fraction."""
    aligned = ms(until) // EIGHT_HOURS_MS * EIGHT_HOURS_MS
    for periods in range(3, 60):
        start_ms = aligned - periods * EIGHT_HOURS_MS
        span = funding_events("BTC/USDT:USDT", start_ms - 3 * EIGHT_HOURS_MS, ms(datetime.now(UTC)) + 1)
        hashes = unit_hash(span["open_ms"].to_numpy().astype(np.uint64))
        lost = int(span["open_ms"][int(np.argmin(hashes))])
        if start_ms < lost < ms(until) - EIGHT_HOURS_MS:
            return (datetime.fromtimestamp(start_ms / 1000, UTC), datetime.fromtimestamp(lost / 1000, UTC),
                    float(np.sort(hashes)[:2].mean()))
    raise AssertionError("no such start in 20 days")


def known_gaps(warehouse) -> list[tuple]:
    with warehouse.connect(read_only=True) as conn:
        return conn.sql("SELECT dataset, epoch_ms(ts), sources, confirmations FROM known_gaps ORDER BY ALL").fetchall()


def an_hour_passes(warehouse) -> None:
    """What an hour does to the recorded confirmations (the test cannot wait for one)."""
    with warehouse.connect() as conn:
        conn.execute("UPDATE known_gaps SET confirmed_at = confirmed_at - INTERVAL 61 MINUTE")


def funding_healer(emulator, warehouse, *, start: datetime, **sources) -> Healer:
    symbol = SymbolSettings(symbol="BTC/USDT:USDT", timeframe="1m", start=start, datasets=("funding_rates",),
                            sources=("binance", "okx", "bybit"))
    resources = {"warehouse": warehouse, "sources": SourcesResource(emulator_url=emulator.url, **sources)}
    return Healer(settings_for(symbol, warehouse, emulator.url), symbol, resources, dataset=FUNDING_RATES)


def heal_the_span_then_ask_for(healer: Healer, lost: datetime) -> dg.RunRequest:
    """Fill the span in one range run (nothing stored before it: its first source serves it alone), then the
    request the next tick makes once the back-off is forgotten: the lost event's hour alone."""
    (request,) = healer.tick().run_requests
    assert RANGE_START in request.tags and healer.run(request)
    healer.cursor = None
    (request,) = healer.tick().run_requests
    assert request.partition_key == f"{lost:%Y-%m-%d-%H:%M}"
    return request


def test_an_event_no_venue_has_is_confirmed_as_a_hole_after_two_runs_and_healing_asks_no_more(emulator, warehouse,
                                                                                              tmp_path, monkeypatch):
    """Before, no run recorded a missing funding event: healing asked for its hour until it gave up."""
    until = closed_hour()
    start, lost, fraction = losing_one_inner_event(until)
    for venue in PERP_VENUES:
        emulator.add_fault(f"{venue}:holes:{fraction}")
    healer = funding_healer(emulator, warehouse, start=start)
    request = heal_the_span_then_ask_for(healer, lost)
    assert known_gaps(warehouse) == []  # the range run asked Binance alone: no evidence yet
    assert healer.run(request)
    hole = ("funding_rates", ms(lost), "binance, okx, bybit")
    assert known_gaps(warehouse) == [(*hole, 1)]  # once could be a glitch: asked again
    healer.cursor = None  # forget the back-off: what a tick asks for is then only what is incomplete
    (again,) = healer.tick().run_requests
    assert again.partition_key == request.partition_key
    an_hour_passes(warehouse)
    run = dg.materialize([healer.asset], partition_key=again.partition_key, tags=again.tags,
                         resources=healer.resources, instance=healer.instance)
    assert known_gaps(warehouse) == [(*hole, 2)]
    (check,) = [c for c in run.get_asset_check_evaluations() if c.check_name == "gaps"]
    counted = (check.metadata["missing_funding_events"].value, check.metadata["confirmed_empty"].value)
    assert check.passed and counted == (1, 1)
    healer.cursor = None
    assert healer.tick().run_requests == []  # every source lacked it twice, an hour apart: the venue's hole
    want = [t for t in funding_events("BTC/USDT:USDT", ms(start), ms(until))["open_ms"].to_list() if t != ms(lost)]
    assert stored_times(warehouse, "BTC/USDT:USDT") == want
    with warehouse.connect(read_only=True) as conn:
        gaps = queries.gaps(conn, "BTC/USDT:USDT", dataset=FUNDING_RATES)
    assert gaps.select("missing", "confirmed_empty", "unconfirmed").rows() == [(1, 1, 0)]
    config = tmp_path / "datafactory.toml"
    config.write_text(f'[symbols]\n"BTC/USDT:USDT" = {{ start = "{start:%Y-%m-%d}", datasets = ["funding_rates"] }}\n')
    monkeypatch.setenv("DATAFACTORY_CONFIG", str(config))
    monkeypatch.setenv("DATAFACTORY_WAREHOUSE", warehouse.path)
    said = CliRunner().invoke(main, ["gaps", "--dataset", "funding_rates"], catch_exceptions=False)
    assert said.output.splitlines()[-1] == ("1 gap(s), 1 missing funding event(s): 0 not yet confirmed, 1 confirmed "
                                            "empty at every source")


@pytest.mark.parametrize("faults", [("binanceusdm",), ("binanceusdm", "bybit", "okx:status:503")],
                         ids=["lost-at-binance-only", "okx-failing"])
def test_an_event_a_venue_has_or_a_failing_venue_might_have_is_never_a_hole(emulator, warehouse, faults):
    """Lost at Binance alone, OKX fills it; lost at Binance and Bybit with OKX failing, OKX's silence is no
    evidence: nothing is recorded as a hole either way."""
    until = closed_hour()
    start, lost, fraction = losing_one_inner_event(until)
    for fault in faults:
        emulator.add_fault(fault if ":" in fault else f"{fault}:holes:{fraction}")
    healer = funding_healer(emulator, warehouse, start=start, retry_attempts=1, retry_backoff_s=0.01)
    assert healer.run(heal_the_span_then_ask_for(healer, lost))
    assert known_gaps(warehouse) == []
    held = stored_times(warehouse, "BTC/USDT:USDT")
    assert (ms(lost) in held) is (faults == ("binanceusdm",))
