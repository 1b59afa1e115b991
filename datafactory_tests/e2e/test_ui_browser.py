"""The Dagster UI in a real browser: headless Chromium (Debian's package, driven by Playwright) shows our candle
assets, their partition health, their checks and their materialization metadata for a platform the emulator fed, and
a USDⓈ-M perpetual's datasets (`mark_candles/btc_usdt`, `funding_rates/btc_usdt`, ...) beside the spot candles.

Screenshots of every page land in datafactory_tests/artifacts/ui/, whether the assertions pass or not.
"""

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect, sync_playwright

from datafactory_assets.warehouse import WarehouseResource
from datafactory_tests.e2e.platform import Platform

CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.xdist_group("e2e"),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium package is not installed (no `chromium` on PATH; "
                                                ".ci/system-packages.sh installs it)"),
]

SCREENSHOTS = Path(__file__).parents[1] / "artifacts" / "ui"
HOURS = 10  # the universe starts this many closed hours ago
UI_TIMEOUT_MS = 60_000  # a React app on a loaded two-core machine
FAILED, HOLED = 6, range(0, 6)  # hours (from the start) of the two spot runs below
HOLE_FRACTION = 0.2
PERP = "BTC/USDT:USDT"
PERP_HOURS = range(0, HOURS - 1)  # the perpetual's runs, clean: nine hours hold one or two 8-hourly funding events
PERP_DATASETS = ("perp_candles", "mark_candles", "index_candles", "premium_candles", "funding_rates", "open_interest")


@dataclass(frozen=True)
class FedPlatform:
    """A running platform and the hours its runs filled: BTC has holed, failed and missing hours."""

    platform: Platform
    start: datetime

    def key(self, hour: int) -> str:
        return f"{self.start + timedelta(hours=hour):%Y-%m-%d-%H:%M}"

    def partitions(self) -> int:
        """Closed hours since the start, as the UI counts them now (one more if the clock passed an hour)."""
        return (datetime.now(UTC) - self.start) // timedelta(hours=1)

    def stored_rows(self, symbol: str, hours: range, *, table: str = "candles") -> int:
        window = [self.start + timedelta(hours=hours.start), self.start + timedelta(hours=hours.stop)]
        with WarehouseResource(path=str(self.platform.warehouse_path)).connect(read_only=True) as conn:
            return conn.execute(f"SELECT count(*) FROM {table} WHERE symbol = ? AND ts >= ? AND ts < ?",
                                [symbol, *(t.replace(tzinfo=None) for t in window)]).fetchall()[0][0]


def universe(start: datetime) -> str:
    """Two spot symbols with one venue each (so binance's holes stay holes and ETH's okx is clean) and BTC's
    perpetual, collecting every perpetual dataset (binance: Binance USDⓈ-M); the hourly schedule set half an hour
    away, so no run but ours changes what the UI shows."""
    return f"""
[defaults]
timeframe = "1m"
start = {start:%Y-%m-%dT%H:%M:%SZ}
sources = ["binance"]
[symbols]
"BTC/USDT" = {{}}
"ETH/USDT" = {{ sources = ["okx"] }}
"{PERP}" = {{}}
[schedule]
minute_of_hour = {(datetime.now(UTC).minute + 30) % 60}
"""


@pytest.fixture(scope="module")
def fed(tmp_path_factory, emulator_session) -> Iterator[FedPlatform]:
    """Real runs launched through GraphQL: BTC through a garbled venue (a failed hour), then both symbols while
    binance has holes (BTC's hours stored with a `gaps` warning, ETH's whole). The failed run comes first, so
    the checks the UI shows are those of the last materialization. Then, clean, the perpetual's trade, index and
    premium candles with its funding events, and after them its mark candles, whose `mark_vs_index` check reads the
    index candles stored by then."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS)
    with Platform(tmp_path_factory.mktemp("ui_platform"), config_toml=universe(start),
                  emulator_url=emulator_session.url) as platform:
        fed = FedPlatform(platform, start)
        try:
            emulator_session.add_fault("binance:garbage")
            statuses = [platform.materialize(["btc_usdt"], first=fed.key(FAILED), last=fed.key(FAILED))]
            emulator_session.clear_faults()
            emulator_session.add_fault(f"binance:holes:{HOLE_FRACTION}")
            statuses.append(platform.materialize(["btc_usdt", "eth_usdt"], first=fed.key(HOLED[0]),
                                                 last=fed.key(HOLED[-1])))
        finally:
            emulator_session.clear_faults()
        perp = {"first": fed.key(PERP_HOURS[0]), "last": fed.key(PERP_HOURS[-1])}
        for datasets in (("perp_candles", "index_candles", "premium_candles", "funding_rates"), ("mark_candles",)):
            statuses.append(platform.materialize(["btc_usdt"], datasets=datasets, **perp))
        assert statuses == ["FAILURE", "SUCCESS", "SUCCESS", "SUCCESS"], platform.log("daemon")[-4000:]
        platform.graphql("mutation { setNuxSeen }")  # the UI's own "join the community" dialog stays closed
        yield fed


@pytest.fixture(scope="module")
def page(fed) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1600, "height": 1100})
        page.set_default_timeout(UI_TIMEOUT_MS)
        expect.set_options(timeout=UI_TIMEOUT_MS)
        try:
            yield page
        finally:
            browser.close()


@contextmanager
def screen(page: Page, url: str, name: str) -> Iterator[Page]:
    """Open `url`; whatever the assertions inside find, save the page as it was when they ended."""
    page.goto(url)
    try:
        yield page
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def check_entry(page: Page, name: str, *, icon: str, status: str) -> Locator:
    """The checks list's entry for `name`: the element holding nothing but the check's name and status, with the
    status icon (a WARN failure has a warning icon, an ERROR one an error icon)."""
    entry = page.locator("div").filter(has=page.get_by_role("img", name=icon))
    return entry.filter(has_text=re.compile(rf"^{name}.*{status}$")).first


def expect_catalog_row(page: Page, key: str, *, partitions: int) -> None:
    """The catalog lists the asset `key` (`candles/btc_usdt`, shown "candles / btc_usdt") with its partition count.
    Its link's name begins with the key (it repeats its text; "/" escaped for Playwright's regex syntax): a bare
    substring would match `perp_candles / btc_usdt` too."""
    link = page.get_by_role("link", name=re.compile("^" + re.escape(key).replace("/", r" \/ "))).first
    expect(link).to_be_visible()
    row = link.locator("xpath=ancestor::div[contains(., ' partitions')][1]")  # "- partitions" until loaded
    expect(row).to_contain_text(f"{partitions} partitions")


def test_catalog_lists_both_candle_assets_with_their_partitions_and_the_coverage_asset(fed, page):
    with screen(page, f"{fed.platform.url}/assets", "catalog"):
        for name in ("btc_usdt", "eth_usdt"):
            expect_catalog_row(page, f"candles/{name}", partitions=fed.partitions())
        expect(page.get_by_role("link", name=re.compile(r"^coverage")).first).to_be_visible()


def test_partitions_tab_shows_materialized_failed_and_missing_hours(fed, page):
    with screen(page, f"{fed.platform.url}/assets/candles/btc_usdt?view=partitions", "btc_usdt_partitions"):
        total = fed.partitions()
        materialized = len(HOLED)
        expect(page.get_by_text(f"{total} Partitions Selected")).to_be_visible()
        expect(page.get_by_text(f"Materialized ({materialized})")).to_be_visible()
        expect(page.get_by_text("Failed (1)")).to_be_visible()
        expect(page.get_by_text(f"Missing ({total - materialized - 1})")).to_be_visible()
        expect(page.get_by_text(fed.key(FAILED), exact=True).filter(visible=True)).to_be_visible()


def test_checks_tab_shows_validation_succeeded_and_gaps_warning_with_the_missing_candles(fed, page):
    missing = 60 * len(HOLED) - fed.stored_rows("BTC/USDT", HOLED)
    assert missing > 0, "the holes fault left no hole"
    with screen(page, f"{fed.platform.url}/assets/candles/btc_usdt?view=checks", "btc_usdt_checks"):
        expect(check_entry(page, "validation", icon="check_circle", status="Succeeded")).to_be_visible()
        expect(check_entry(page, "gaps", icon="warning_outline", status="Failed")).to_be_visible()
        page.get_by_text("gaps", exact=True).filter(visible=True).first.click()
        expect(page.get_by_role("row", name=f"missing_candles {missing}", exact=True)).to_be_visible()


def test_latest_materialization_shows_rows_and_source_of_the_holed_run(fed, page):
    rows = fed.stored_rows("BTC/USDT", HOLED)
    with screen(page, f"{fed.platform.url}/assets/candles/btc_usdt?view=events", "btc_usdt_latest_materialization"):
        expect(page.get_by_text(re.compile(rf"Partition {fed.key(HOLED[-1])} materialized in run"))).to_be_visible()
        for name, value in {"run_rows": rows, "run_expected_rows": 60 * len(HOLED), "source": "binance",
                            "window": f"{fed.start + timedelta(hours=HOLED[0]):%Y-%m-%d %H:%M} .. "
                                      f"{fed.start + timedelta(hours=HOLED.stop):%Y-%m-%d %H:%M} UTC"}.items():
            expect(page.get_by_role("row", name=f"{name} {value}", exact=True)).to_be_visible()


def test_the_lineage_graph_tells_the_1h_rollup_from_the_1d_rollup(fed, page):
    """A node shows only its key's last part (`btc_usdt` for both rollups): each bucket's group box names it."""
    url = f"{fed.platform.url}/assets/candles/btc_usdt?view=lineage&lineageScope=downstream"
    with screen(page, url, "lineage_rollups") as shown:
        for group in ("rollups_1h", "rollups_1d"):
            expect(shown.get_by_text(group, exact=True)).to_be_visible()


def test_catalog_lists_every_dataset_of_the_perpetual_with_its_partitions(fed, page):
    """A perpetual's assets share the spot pair's asset name: the dataset, the key's first part, tells them apart."""
    with screen(page, f"{fed.platform.url}/assets", "catalog_perpetual") as shown:
        for dataset in PERP_DATASETS:
            expect_catalog_row(shown, f"{dataset}/btc_usdt", partitions=fed.partitions())


def test_mark_candles_partitions_and_checks_show_the_perpetuals_run(fed, page):
    total = fed.partitions()
    with screen(page, f"{fed.platform.url}/assets/mark_candles/btc_usdt?view=partitions", "mark_candles_partitions"):
        expect(page.get_by_text(f"{total} Partitions Selected")).to_be_visible()
        expect(page.get_by_text(f"Materialized ({len(PERP_HOURS)})")).to_be_visible()
        expect(page.get_by_text(f"Missing ({total - len(PERP_HOURS)})")).to_be_visible()
    assert fed.stored_rows(PERP, PERP_HOURS, table="mark_candles") == 60 * len(PERP_HOURS)
    with screen(page, f"{fed.platform.url}/assets/mark_candles/btc_usdt?view=checks", "mark_candles_checks"):
        for name in ("validation", "gaps", "mark_vs_index"):
            expect(check_entry(page, name, icon="check_circle", status="Succeeded")).to_be_visible()
        page.get_by_text("mark_vs_index", exact=True).filter(visible=True).first.click()
        expect(page.get_by_role("row", name="verdict agree", exact=True)).to_be_visible()
        expect(page.get_by_role("row", name=f"compared {60 * len(PERP_HOURS)}", exact=True)).to_be_visible()


def test_funding_rates_show_the_events_their_run_stored_and_their_checks(fed, page):
    events = fed.stored_rows(PERP, PERP_HOURS, table="funding_rates")
    assert events in (1, 2), "nine hours of an 8-hourly schedule hold one or two funding events"
    with screen(page, f"{fed.platform.url}/assets/funding_rates/btc_usdt?view=partitions",
                "funding_rates_partitions"):
        expect(page.get_by_text(f"Materialized ({len(PERP_HOURS)})")).to_be_visible()
    with screen(page, f"{fed.platform.url}/assets/funding_rates/btc_usdt?view=checks", "funding_rates_checks"):
        for name in ("validation", "gaps"):
            expect(check_entry(page, name, icon="check_circle", status="Succeeded")).to_be_visible()
        page.get_by_text("gaps", exact=True).filter(visible=True).first.click()
        expect(page.get_by_role("row", name="missing_funding_events 0", exact=True)).to_be_visible()
    with screen(page, f"{fed.platform.url}/assets/funding_rates/btc_usdt?view=events",
                "funding_rates_latest_materialization"):
        expect(page.get_by_text(re.compile(rf"Partition {fed.key(PERP_HOURS[-1])} materialized in run")))\
            .to_be_visible()
        for name, value in {"run_rows": events, "run_expected_rows": events, "run_missing_events": 0,
                            "source": "binance"}.items():
            expect(page.get_by_role("row", name=f"{name} {value}", exact=True)).to_be_visible()
