"""The emulator's bulk archive over HTTP: the real archive's paths, checksums, 404s and time units, with the same
klines as the emulator's Binance REST API."""

import csv
import hashlib
import io
import zipfile
from datetime import UTC, datetime

import pytest

from datafactory_assets.emulator.binance_archive import DAY_LAG_MS, MONTH_LAG_MS, BinanceArchiveVenue
from datafactory_assets.emulator.store import CandleStore
from datafactory_assets.emulator.venue import Request
from datafactory_tests.emulator.helpers import DAY

ARCHIVE = "/binance_archive/data/spot"
JAN_2025_MS = 1_735_689_600_000


def month_path(period: str, market: str = "BTCUSDT", interval: str = "1m") -> str:
    return f"{ARCHIVE}/monthly/klines/{market}/{interval}/{market}-{interval}-{period}.zip"


def day_path(period: str, market: str = "BTCUSDT", interval: str = "1m") -> str:
    return f"{ARCHIVE}/daily/klines/{market}/{interval}/{market}-{interval}-{period}.zip"


def csv_rows(body: bytes) -> tuple[str, list[list[str]]]:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        (member,) = archive.namelist()
        return member, list(csv.reader(io.StringIO(archive.read(member).decode())))


def rest_rows(http, *, start_ms: int, interval: str = "1m") -> list[list]:
    answer = http.get(f"{http.base}/binance/api/v3/klines", timeout=10,
                      params={"symbol": "BTCUSDT", "interval": interval, "startTime": start_ms, "limit": 1000})
    return answer.json()


@pytest.mark.parametrize(("period", "start_ms", "unit"), [("2024-12", JAN_2025_MS - 31 * DAY, 1),
                                                          ("2025-01", JAN_2025_MS, 1000)])
def test_a_month_file_holds_the_rest_klines_field_for_field_in_ms_until_2024_and_in_us_after(http, period,
                                                                                          start_ms, unit):
    body = http.get(http.base + month_path(period), timeout=30)
    checksum = http.get(http.base + month_path(period) + ".CHECKSUM", timeout=10)
    assert body.status_code == checksum.status_code == 200
    assert checksum.text == f"{hashlib.sha256(body.content).hexdigest()}  BTCUSDT-1m-{period}.zip\n"
    member, rows = csv_rows(body.content)
    assert member == f"BTCUSDT-1m-{period}.csv" and len(rows) == 31 * 1440 and {len(r) for r in rows} == {12}
    rest = rest_rows(http, start_ms=start_ms)
    for archived, served in zip(rows, rest, strict=False):
        assert int(archived[0]) == served[0] * unit and int(archived[6]) == (served[6] + 1) * unit - 1
        assert archived[1:6] + archived[7:] == [str(v) for v in served[1:6] + served[7:]]
    assert len(str(rows[0][0])) == (13 if unit == 1 else 16)


def test_a_day_file_is_that_day_of_the_month(http):
    _, month = csv_rows(http.get(http.base + month_path("2025-01", interval="1h"), timeout=10).content)
    answer = http.get(http.base + day_path("2025-01-02", interval="1h"), timeout=10)
    member, day = csv_rows(answer.content)
    assert member == "BTCUSDT-1h-2025-01-02.csv" and day == month[24:48]
    checksum = http.get(http.base + day_path("2025-01-02", interval="1h") + ".CHECKSUM", timeout=10).text
    assert checksum.split() == [hashlib.sha256(answer.content).hexdigest(), "BTCUSDT-1h-2025-01-02.zip"]


@pytest.mark.parametrize("path", [
    month_path("2099-01"),  # the future
    month_path("2017-05"),  # before the symbol was listed
    day_path("2017-07-01"),
    month_path("2024-05", market="NOPEUSDT"),  # not listed at all
    month_path("2024-05", interval="2m"),  # not an interval Binance has
    month_path("2024-13"),
    day_path("2024-02-30"),
    f"{ARCHIVE}/monthly/klines/BTCUSDT/1m/ETHUSDT-1m-2024-05.zip",  # the name must match its folder
    f"{ARCHIVE}/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-05.zip",  # a month name in the daily folder
    "/binance_archive/no/such/path",
])
def test_what_the_archive_does_not_hold_is_an_s3_404(http, path):
    for suffix in ("", ".CHECKSUM"):
        answer = http.get(http.base + path + suffix, timeout=10)
        assert answer.status_code == 404 and "<Code>NoSuchKey</Code>" in answer.text
        assert answer.headers["Content-Type"] == "application/xml"


def test_files_appear_only_after_their_period_and_its_publication_lag():
    venue = BinanceArchiveVenue(CandleStore(["BTC/USDT"], {}))
    path = month_path("2025-01", interval="1h").removeprefix("/binance_archive")
    day = day_path("2025-01-31", interval="1h").removeprefix("/binance_archive")
    feb = JAN_2025_MS + 31 * DAY

    def status(target: str, now_ms: int) -> int:
        return venue.respond(Request(method="GET", path=target, query={}, now_ms=now_ms)).status

    assert [status(path, feb + MONTH_LAG_MS - 1), status(path, feb + MONTH_LAG_MS)] == [404, 200]
    assert [status(day, feb + DAY_LAG_MS - 1), status(day, feb + DAY_LAG_MS)] == [404, 200]


def test_a_fault_alters_the_zip_but_never_its_checksum_file(emu, http):
    path = http.base + month_path("2024-06", interval="1h")
    good = http.get(path, timeout=10).content
    emu.add_fault("binance_archive:spike@2")
    published = http.get(path + ".CHECKSUM", timeout=10).text.split()[0]
    spiked = http.get(path, timeout=10).content
    assert published == hashlib.sha256(good).hexdigest() != hashlib.sha256(spiked).hexdigest()
    _, rows = csv_rows(spiked)  # a well-formed zip: only the checksum tells
    assert len(rows) == 30 * 24 and csv_rows(good)[1] != rows
    assert http.get(path, timeout=10).content != good  # the second of the two faulted zip requests
    assert http.get(path, timeout=10).content == good
    assert [r["fault"] for r in emu.request_log()[1:]] == [None, "binance_archive:spike@2", "binance_archive:spike@2",
                                                           None]


def test_only_get_is_served(http):
    answer = http.post(http.base + month_path("2024-05"), timeout=10)
    assert answer.status_code == 405 and "<Code>MethodNotAllowed</Code>" in answer.text


def test_the_files_of_one_period_are_the_same_bytes_in_every_emulator():
    def body(now_ms: int) -> bytes:
        venue = BinanceArchiveVenue(CandleStore(["ETH/USDT"], {}))
        target = day_path("2024-05-05", market="ETHUSDT").removeprefix("/binance_archive")
        return venue.respond(Request(method="GET", path=target, query={}, now_ms=now_ms)).body

    now = int(datetime.now(UTC).timestamp() * 1000)
    assert body(now) == body(now + DAY)
