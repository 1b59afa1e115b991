"""The emulator's USDⓈ-M futures archive over HTTP: the real folders, a header row in every CSV, checksums that
verify, and the same values as the `binanceusdm` REST dialect and `perp_series`."""

import csv
import hashlib
import io
import time
import zipfile

import pytest

from datafactory_assets.emulator import perp_series as perp
from datafactory_assets.emulator.binance_archive_um import FUNDING_HEADER, KLINE_HEADER, METRICS_HEADER
from datafactory_tests.emulator.helpers import DAY, HOUR, MINUTE

UM = "/binance_archive/data/futures/um"
BTC = "BTC/USDT:USDT"
FEB_2024_MS = 1_706_745_600_000


def fetch(http, path: str) -> tuple[str, list[dict]]:
    """The file's member name and rows, read with its header, after checking the body against its `.CHECKSUM`."""
    body = http.get(http.base + path, timeout=30)
    checksum = http.get(http.base + path + ".CHECKSUM", timeout=10)
    assert body.status_code == checksum.status_code == 200
    assert checksum.text == f"{hashlib.sha256(body.content).hexdigest()}  {path.rsplit('/', 1)[1]}\n"
    with zipfile.ZipFile(io.BytesIO(body.content)) as archive:
        (member,) = archive.namelist()
        return member, list(csv.DictReader(io.StringIO(archive.read(member).decode())))


@pytest.mark.parametrize(("data", "kind"), [("klines", "trade"), ("markPriceKlines", "mark"),
                                            ("indexPriceKlines", "index"), ("premiumIndexKlines", "premium")])
def test_a_day_of_each_kline_kind_has_the_header_and_the_series_values(http, data, kind):
    member, rows = fetch(http, f"{UM}/daily/{data}/BTCUSDT/1m/BTCUSDT-1m-2024-02-01.zip")
    assert member == "BTCUSDT-1m-2024-02-01.csv" and tuple(rows[0]) == KLINE_HEADER and len(rows) == 1440
    series = perp.perp_candles(BTC, kind, FEB_2024_MS, FEB_2024_MS + DAY)
    assert [int(row["open_time"]) for row in rows] == series["open_ms"].to_list()
    for column in ("open", "high", "low", "close", "volume"):
        assert [float(row[column]) for row in rows] == series[column].to_list(), column
    assert int(rows[0]["close_time"]) == FEB_2024_MS + MINUTE - 1
    if kind != "trade":
        assert {row["count"] for row in rows} == {"12" if kind == "premium" else "60"}


def test_a_month_file_is_its_days_one_after_another(http):
    _, month = fetch(http, f"{UM}/monthly/markPriceKlines/BTCUSDT/1h/BTCUSDT-1h-2024-02.zip")
    _, day = fetch(http, f"{UM}/daily/markPriceKlines/BTCUSDT/1h/BTCUSDT-1h-2024-02-02.zip")
    assert len(month) == 29 * 24 and month[24:48] == day


def test_the_monthly_funding_file_holds_every_event_across_the_interval_change(http):
    symbol, change = perp.INTERVAL_CHANGE
    member, rows = fetch(http, f"{UM}/monthly/fundingRate/ETHUSDT/ETHUSDT-fundingRate-2025-01.zip")
    assert member == "ETHUSDT-fundingRate-2025-01.csv" and tuple(rows[0]) == FUNDING_HEADER
    events = perp.funding_events(symbol, change - 14 * DAY, change + 17 * DAY)
    assert [int(row["calc_time"]) for row in rows] == events["funding_ms"].to_list()
    assert [float(row["last_funding_rate"]) for row in rows] == events["rate"].to_list()
    assert [int(row["funding_interval_hours"]) for row in rows] == [8] * 42 + [4] * 102


def test_the_daily_metrics_file_keeps_open_interest_older_than_the_rest_api(http):
    member, rows = fetch(http, f"{UM}/daily/metrics/BTCUSDT/BTCUSDT-metrics-2024-02-01.zip")
    assert member == "BTCUSDT-metrics-2024-02-01.csv" and tuple(rows[0]) == METRICS_HEADER and len(rows) == 288
    assert (rows[0]["create_time"], rows[1]["create_time"]) == ("2024-02-01 00:00:00", "2024-02-01 00:05:00")
    series = perp.open_interest(BTC, FEB_2024_MS, FEB_2024_MS + DAY)
    assert [float(row["sum_open_interest"]) for row in rows] == series["amount"].to_list()
    assert [float(row["sum_open_interest_value"]) for row in rows] == series["value"].to_list()
    assert {row["symbol"] for row in rows} == {"BTCUSDT"}


@pytest.mark.parametrize("path", [
    f"{UM}/daily/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-02-01.zip",  # funding is monthly only
    f"{UM}/monthly/metrics/BTCUSDT/BTCUSDT-metrics-2024-02.zip",  # metrics are daily only
    f"{UM}/daily/klines/ETHBTCUSDT/1m/ETHBTCUSDT-1m-2024-02-01.zip",  # no such perpetual
    f"{UM}/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2019-09-01.zip",  # before the perpetual was listed
    f"{UM}/daily/markPriceKlines/BTCUSDT/2m/BTCUSDT-2m-2024-02-01.zip",
])
def test_what_the_futures_archive_does_not_hold_is_an_s3_404(http, path):
    for suffix in ("", ".CHECKSUM"):
        answer = http.get(http.base + path + suffix, timeout=10)
        assert answer.status_code == 404 and b"<Code>NoSuchKey</Code>" in answer.content


def test_yesterdays_metrics_appear_the_next_day_and_todays_not_yet(http):
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - DAY / 1000 - 7 * HOUR / 1000))
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert http.get(f"{http.base}{UM}/daily/metrics/BTCUSDT/BTCUSDT-metrics-{day}.zip", timeout=10).ok
    assert http.get(f"{http.base}{UM}/daily/metrics/BTCUSDT/BTCUSDT-metrics-{today}.zip", timeout=10).status_code == 404


def test_a_fault_corrupts_the_zip_so_it_no_longer_matches_its_checksum(http, emu):
    path = f"{http.base}{UM}/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-02-03.zip"
    checksum = http.get(path + ".CHECKSUM", timeout=10).text.split()[0]
    emu.add_fault("binance_archive:holes:0.3@1")
    assert hashlib.sha256(http.get(path, timeout=10).content).hexdigest() != checksum
    assert hashlib.sha256(http.get(path, timeout=10).content).hexdigest() == checksum
