"""Four runs at once share one venue budget through the state file: the venue never has to refuse them (Bybit refuses
with a 403 that bans the IP for ten minutes)."""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta

from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.resilience.chain import ChainExhaustedError
from datafactory_assets.settings import SymbolSettings
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse import WarehouseResource

START = datetime(2024, 3, 1, tzinfo=UTC)
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "ADA/USDT")
VENUE_BUDGET = 6  # requests per Bybit window (5 s); each run needs 4 (markets + 3 pages), 16 in all: unshared,
# they would have to spread over three windows (15 s) not to be refused, so the refusal needs no timing assumption;
# shared, at half the budget (3 a window) only delays of most of a window could pile them past the venue's count


def run(symbol: str, emulator_url: str, warehouse_path: str, state_path: str, shared_limiter: bool) -> int:
    """The rows the run stored; 0 when no source served it (a banned venue)."""
    # Half the venue's budget, so that requests a loaded machine delays between taking their share and reaching the
    # emulator cannot pile up past its count there (with 90% of 6, one late request was enough for a 403).
    sources = SourcesResource(emulator_url=emulator_url, state_path=state_path, rate_limit=shared_limiter,
                              budgets={"bybit": VENUE_BUDGET}, budget_margin=0.5, retry_attempts=6,
                              retry_backoff_s=0.2)
    settings = SymbolSettings(symbol=symbol, timeframe="1m", start=START, sources=("bybit",))
    try:
        return ingest_window(settings, start=START, end=START + timedelta(days=2), sources=sources,
                             warehouse=WarehouseResource(path=warehouse_path)).rows
    except ChainExhaustedError:
        return 0


def four_runs_at_once(emulator, tmp_path, *, shared_limiter: bool) -> tuple[list[int], list[int]]:
    emulator.clear_request_log()
    emulator.set_budget("bybit", VENUE_BUDGET)
    try:
        with ProcessPoolExecutor(max_workers=4, mp_context=multiprocessing.get_context("spawn")) as pool:
            rows = list(pool.map(run, SYMBOLS, [emulator.url] * 4, [str(tmp_path / "w.duckdb")] * 4,
                                 [str(tmp_path / "state.sqlite")] * 4, [shared_limiter] * 4))
    finally:
        emulator.clear_budgets()
    return rows, [r["status"] for r in emulator.request_log() if r["venue"] == "bybit"]


def test_four_runs_against_a_venue_budget_are_never_refused_and_complete(emulator, tmp_path):
    rows, statuses = four_runs_at_once(emulator, tmp_path, shared_limiter=True)
    assert rows == [2880] * 4
    assert set(statuses) == {200} and len(statuses) == 16


def test_without_the_shared_budget_the_same_runs_are_refused(emulator, tmp_path):
    rows, statuses = four_runs_at_once(emulator, tmp_path, shared_limiter=False)
    assert statuses.count(403) > 0 and 0 in rows  # the venue banned us: a run failed, and no retry undid the ban
