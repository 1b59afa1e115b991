"""Funding history filled and healed with no person involved: webserver and daemon running against the emulator for
a perpetual collecting funding rates; the daemon's healing sensor fills its history from nothing, then an event
deleted from the warehouse is fetched again (the times are printed)."""

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from datafactory_assets.emulator.perp_series import funding_events
from datafactory_assets.warehouse import WarehouseResource
from datafactory_tests.automation.test_healing_funding import EIGHT_HOURS, EIGHT_HOURS_MS, closed_hour
from datafactory_tests.e2e.platform import Platform, wait_for
from datafactory_tests.e2e.test_healing import config
from datafactory_tests.helpers import ms

pytestmark = pytest.mark.xdist_group("e2e")

SYMBOL = "BTC/USDT:USDT"


def stored_times(warehouse: Path, until: datetime) -> list[int]:
    """Epoch ms of the stored events before `until`, read the way the platform reads (waiting for a writer); [] while
    the file does not exist yet."""
    try:
        with WarehouseResource(path=str(warehouse)).connect(read_only=True) as conn:
            return [t for (t,) in conn.execute("SELECT epoch_ms(ts) FROM funding_rates WHERE symbol = ? AND ts < ? "
                                               "ORDER BY ts", [SYMBOL, until.replace(tzinfo=None)]).fetchall()]
    except FileNotFoundError:
        return []


def test_the_daemon_fills_funding_history_and_fetches_a_deleted_event_again(tmp_path, emulator):
    until = closed_hour()  # an hour closing mid-test may add an event; the checks stop here
    start = datetime.fromtimestamp(ms(until) // EIGHT_HOURS_MS * EIGHT_HOURS_MS / 1000, UTC) - 3 * EIGHT_HOURS
    want = funding_events(SYMBOL, ms(start), ms(until))["open_ms"].to_list()
    assert len(want) >= 3
    universe = config(start, symbols=f'"{SYMBOL}" = {{ datasets = ["funding_rates"] }}')
    with Platform(tmp_path, config_toml=universe, emulator_url=emulator.url) as platform:
        began = time.monotonic()
        wait_for(lambda: stored_times(platform.warehouse_path, until) == want, timeout_s=300,
                 what=f"the funding events since {start} stored; see {tmp_path}")
        filled_s = round(time.monotonic() - began, 1)

        lost = (start + EIGHT_HOURS).replace(tzinfo=None)
        with WarehouseResource(path=str(platform.warehouse_path)).connect() as conn:  # waits while the platform writes
            conn.execute("DELETE FROM funding_rates WHERE symbol = ? AND ts = ?", [SYMBOL, lost])
        deleted_at = time.monotonic()
        wait_for(lambda: stored_times(platform.warehouse_path, until) == want, timeout_s=300,
                 what=f"the deleted event at {lost} fetched again; see {tmp_path}")
        healed_s = round(time.monotonic() - deleted_at, 1)
        daemon_log = platform.log("daemon")
    assert "candles_healing" in daemon_log
    print(json.dumps({"funding_filled_s": filled_s, "deleted_event_healed_after_s": healed_s}))
