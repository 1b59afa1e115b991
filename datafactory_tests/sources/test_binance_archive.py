"""The bulk-archive source through real HTTP against the emulator's archive, alone and in the real failover chain."""

import io
import zipfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.datasets import OPEN_INTEREST, SPOT_CANDLES
from datafactory_assets.settings import SymbolSettings
from datafactory_assets.sources.base import BrokenAnswerError, ErrorKind, SourceError
from datafactory_assets.sources.binance_archive import (
    ArchiveFile,
    BinanceArchiveSource,
    Piece,
    parse_file,
    parse_klines,
    pieces,
)
from datafactory_assets.sources.ccxt_source import CcxtCandleSource
from datafactory_assets.sources.file_cache import FileCache
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse import queries

NEW_YEAR = datetime(2025, 1, 1, tzinfo=UTC)
MAY = datetime(2024, 5, 10, tzinfo=UTC)
FILE = ArchiveFile("X.zip", "/x/X.zip", datetime(2025, 1, 1), datetime(2025, 2, 1))


def archive_requests(emulator) -> list[str]:
    return [r["path"].rsplit("/", 1)[1] for r in emulator.request_log() if r["venue"] == "binance_archive"]


def zipped(text: bytes, members: int = 1) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n in range(members):
            archive.writestr(f"part{n}.csv", text)
    return buffer.getvalue()


def test_a_window_across_the_2025_switch_to_microseconds_equals_binance_rest_value_for_value(emulator):
    start, end = NEW_YEAR - timedelta(hours=3), NEW_YEAR + timedelta(hours=3)
    archived = BinanceArchiveSource(emulator_url=emulator.url).fetch_range("BTC/USDT", start=start, end=end,
                                                                            timeframe="1m")
    rest = CcxtCandleSource("binance", emulator_url=emulator.url).fetch_range("BTC/USDT", start=start, end=end,
                                                                              timeframe="1m")
    assert archived.frame.height == rest.frame.height == 360
    assert archived.frame.drop("source").equals(rest.frame.drop("source"))
    assert set(archived.frame["source"]) == {"binance_archive"}
    assert archive_requests(emulator) == ["BTCUSDT-1m-2024-12.zip.CHECKSUM", "BTCUSDT-1m-2024-12.zip",
                                          "BTCUSDT-1m-2025-01.zip.CHECKSUM", "BTCUSDT-1m-2025-01.zip"]
    # each file is one request, logged for the part of the window it covers (the month's other days were not kept)
    assert [(r.window_start, r.window_end, r.rows, r.outcome) for r in archived.requests] == [
        (datetime(2024, 12, 31, 21), datetime(2025, 1, 1), 180, "ok"),
        (datetime(2025, 1, 1), datetime(2025, 1, 1, 3), 180, "ok")]


def test_hourly_candles_come_from_the_hourly_files(emulator):
    start = MAY
    archived = BinanceArchiveSource(emulator_url=emulator.url).fetch_range("ETH/USDT", start=start,
                                                                            end=start + timedelta(days=2),
                                                                            timeframe="1h")
    rest = CcxtCandleSource("binance", emulator_url=emulator.url).fetch_range(
        "ETH/USDT", start=start, end=start + timedelta(days=2), timeframe="1h")
    assert archived.frame.height == 48 and archived.frame.drop("source").equals(rest.frame.drop("source"))


@pytest.mark.parametrize("fault", ["spike", "holes:0.5", "garbage"])
def test_a_file_that_does_not_match_its_checksum_is_refused_whole_and_never_cached(emulator, tmp_path, fault):
    cache = FileCache(tmp_path / "archive", max_bytes=2**30)
    emulator.add_fault(f"binance_archive:{fault}@1")
    source = BinanceArchiveSource(emulator_url=emulator.url, cache=cache)
    with pytest.raises(BrokenAnswerError, match="BTCUSDT-1m-2024-05.zip: SHA-256 .* does not match") as caught:
        source.fetch_range("BTC/USDT", start=MAY, end=MAY + timedelta(hours=1), timeframe="1m")
    assert caught.value.kind is ErrorKind.BROKEN
    assert [(r.outcome, r.error_class) for r in caught.value.requests] == [("error", "broken:BrokenAnswerError")]
    assert cache.get("BTCUSDT-1m-2024-05.zip") is None
    again = source.fetch_range("BTC/USDT", start=MAY, end=MAY + timedelta(hours=1), timeframe="1m")
    assert again.frame.height == 60  # the fault has expired: the same file verifies now


def test_a_missing_month_is_filled_through_the_real_chain_from_binance_behind_it(emulator, tmp_path, warehouse):
    sources = SourcesResource(emulator_url=emulator.url, state_path=str(tmp_path / "state.sqlite"),
                              retry_attempts=2, retry_backoff_s=0.01)
    symbol = SymbolSettings(symbol="SOL/USDT", timeframe="1m", start=NEW_YEAR - timedelta(days=1),
                            sources=("binance_archive", "binance"))
    emulator.add_fault("binance_archive:status:404@1")  # December's zip is not there (its checksum is)
    start, end = NEW_YEAR - timedelta(hours=2), NEW_YEAR + timedelta(hours=2)
    report = ingest_window(symbol, start=start, end=end, sources=sources, warehouse=warehouse)
    assert (report.source, report.rows, report.filled, report.missing_candles) == (
        "binance_archive", 240, {"binance": 120}, 0)
    with warehouse.connect(read_only=True) as conn:
        stored = queries.window_candles(conn, "SOL/USDT", start, end)
    by_source = stored.group_by("source").agg(pl.col("ts").min().alias("first"), pl.len().alias("rows"))
    assert sorted(by_source.iter_rows()) == [("binance", datetime(2024, 12, 31, 22), 120),
                                             ("binance_archive", datetime(2025, 1, 1), 120)]
    rest = CcxtCandleSource("binance", emulator_url=emulator.url).fetch_range("SOL/USDT", start=start, end=end,
                                                                              timeframe="1m")
    assert stored.sort("ts")["close"].to_list() == rest.frame["close"].to_list()


def test_the_days_of_a_month_file_outside_the_run_are_not_yet_fetched_never_missing(emulator, tmp_path, warehouse):
    """A run of one day reads its whole month file; the other days were served, not refused, so until their own run
    the warehouse counts them as not yet fetched, and nothing of the month as missing (asked, not served)."""
    sources = SourcesResource(emulator_url=emulator.url, state_path=str(tmp_path / "state.sqlite"))
    symbol = SymbolSettings(symbol="ADA/USDT", timeframe="1m", start=MAY, sources=("binance_archive", "binance"))
    report = ingest_window(symbol, start=MAY, end=MAY + timedelta(days=1), sources=sources, warehouse=warehouse)
    assert (report.source, report.rows) == ("binance_archive", 1440)
    with warehouse.connect(read_only=True) as conn:
        counted = queries.coverage(conn, [symbol], until=datetime(2024, 6, 1))
    assert counted.select("expected", "rows", "missing", "not_fetched").row(0) == (22 * 1440, 1440, 0, 21 * 1440)


def test_a_recent_window_is_left_to_the_next_source_without_a_request(emulator, warehouse):
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    symbol = SymbolSettings(symbol="BTC/USDT", timeframe="1m", start=start, sources=("binance_archive", "binance"))
    report = ingest_window(symbol, start=start, end=start + timedelta(hours=1),
                           sources=SourcesResource(emulator_url=emulator.url), warehouse=warehouse)
    assert report.source == "binance" and report.rows == 60
    assert report.failures == []  # a source that cannot serve such a window has not failed
    assert report.passed_over[0].source == "binance_archive" and "at least 2 days ago" in report.passed_over[0].reason
    assert archive_requests(emulator) == []


def test_a_verified_month_is_downloaded_once_for_every_run_that_needs_it(emulator, tmp_path):
    sources = SourcesResource(emulator_url=emulator.url, state_path=str(tmp_path / "state.sqlite"))
    first = sources.client("binance_archive").fetch_range("ADA/USDT", start=MAY, end=MAY + timedelta(days=1),
                                                           timeframe="1m")
    cache_dir = tmp_path / "state.binance-archive"
    assert [str(p.relative_to(cache_dir)) for p in cache_dir.rglob("*.zip")] == [
        "by-path/data/spot/monthly/klines/ADAUSDT/1m/ADAUSDT-1m-2024-05.zip"]
    # a later run is another process with its own client: it shares only the directory
    later = BinanceArchiveSource(emulator_url=emulator.url, cache=FileCache(cache_dir, max_bytes=2**30))
    second = later.fetch_range("ADA/USDT", start=MAY + timedelta(days=1), end=MAY + timedelta(days=2),
                               timeframe="1m")
    assert archive_requests(emulator) == ["ADAUSDT-1m-2024-05.zip.CHECKSUM", "ADAUSDT-1m-2024-05.zip"]
    assert (first.frame.height, second.frame.height, second.requests) == (1440, 1440, [])
    assert first.frame["ts"].max() + timedelta(minutes=1) == second.frame["ts"].min()


def test_a_cached_spot_file_is_never_served_for_the_futures_file_of_the_same_name(emulator, tmp_path):
    """Both are `BTCUSDT-1m-2024-05.zip`, under spot/ and futures/um/: keyed by name, the perpetual's run read the
    spot month from the cache (its candles, under the perpetual's name)."""
    from datafactory_assets.datasets import PERP_CANDLES

    window = {"start": MAY, "end": MAY + timedelta(hours=2), "timeframe": "1m"}
    source = BinanceArchiveSource(emulator_url=emulator.url, cache=FileCache(tmp_path, max_bytes=2**30))
    spot = source.fetch_range("BTC/USDT", **window)
    perp = source.fetch_range("BTC/USDT:USDT", **window, dataset=PERP_CANDLES)
    rest = CcxtCandleSource("binance", market="swap", emulator_url=emulator.url).fetch_range(
        "BTC/USDT:USDT", **window, dataset=PERP_CANDLES)
    assert perp.frame.drop("source").equals(rest.frame.drop("source")) and perp.frame.height == 120
    assert not perp.frame["close"].equals(spot.frame["close"])
    assert archive_requests(emulator) == ["BTCUSDT-1m-2024-05.zip.CHECKSUM", "BTCUSDT-1m-2024-05.zip"] * 2
    again = source.fetch_range("BTC/USDT:USDT", **window, dataset=PERP_CANDLES)  # now from the cache
    assert again.requests == [] and again.frame.equals(perp.frame)


def test_a_month_before_listing_has_no_candles_and_no_error(emulator):
    old = datetime(2017, 5, 1, tzinfo=UTC)
    fetched = BinanceArchiveSource(emulator_url=emulator.url).fetch_range("BTC/USDT", start=old,
                                                                           end=old + timedelta(days=1),
                                                                           timeframe="1m")
    assert fetched.frame.is_empty() and [r.outcome for r in fetched.requests] == ["empty"]


def test_server_errors_are_classified_for_retry_and_carry_the_requests(emulator):
    emulator.add_fault("binance_archive:status:503:7@1")
    with pytest.raises(SourceError, match="HTTP 503") as caught:
        BinanceArchiveSource(emulator_url=emulator.url).fetch_range("BTC/USDT", start=MAY,
                                                                    end=MAY + timedelta(hours=1), timeframe="1m")
    assert (caught.value.kind, caught.value.retry_after_s, len(caught.value.requests)) == (
        ErrorKind.TRANSIENT, 7.0, 1)


def test_only_timeframes_the_archive_publishes_and_only_old_enough_windows_are_claimed():
    source = BinanceArchiveSource(emulator_url="http://127.0.0.1:9", min_age=timedelta(days=3))
    assert source.cannot_serve(MAY, "1m") is None
    assert "has no 2m files" in source.cannot_serve(MAY, "2m")
    assert "at least 3 days ago" in source.cannot_serve(datetime.now(UTC) - timedelta(days=2), "1m")
    with pytest.raises(SourceError, match="has no 2m files") as caught:
        source.fetch_range("BTC/USDT", start=MAY, end=MAY + timedelta(hours=1), timeframe="2m")
    assert caught.value.kind is ErrorKind.PERMANENT


def test_pieces_are_month_files_with_day_stand_ins_while_young_and_day_files_for_the_running_month():
    now = datetime(2025, 3, 5, 12)
    found = pieces("BTCUSDT", "1m", start=datetime(2025, 1, 31, 23), end=datetime(2025, 3, 4, 1), now=now)
    names = [(p.file.name, [d.name for d in p.stand_ins]) for p in found]
    assert names[0] == ("BTCUSDT-1m-2025-01.zip", [])  # ended 33 days ago: its month file or nothing
    february_days = [f"BTCUSDT-1m-2025-02-{day:02d}.zip" for day in range(1, 29)]
    assert names[1] == ("BTCUSDT-1m-2025-02.zip", february_days)  # ended 4 days ago: maybe not published yet
    assert names[2:] == [(f"BTCUSDT-1m-2025-03-{day:02d}.zip", []) for day in range(1, 5)]  # the 5th is running
    assert found[1].file.path == "/data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2025-02.zip"
    assert found[2] == Piece(ArchiveFile("BTCUSDT-1m-2025-03-01.zip",
                                         "/data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-03-01.zip",
                                         datetime(2025, 3, 1), datetime(2025, 3, 2)))
    assert pieces("BTCUSDT", "1m", start=datetime(2025, 3, 5), end=datetime(2025, 3, 5, 6), now=now) == []


def test_milliseconds_and_microseconds_read_alike_and_a_header_line_is_skipped():
    rows = (b"open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
            b"taker_buy_quote_volume,ignore\n"
            b"1735689540000,1.5,2,1,1.75,10,1735689599999,17,3,4,6,0\n"
            b"1735689600000000,1.75,2,1,1.5,11,1735689659999999,18,3,4,6,0\n")
    frame = parse_klines(zipped(rows), file=FILE, symbol="X/Y", source="s")
    assert frame["ts"].to_list() == [datetime(2024, 12, 31, 23, 59), datetime(2025, 1, 1)]
    assert frame["close"].to_list() == [1.75, 1.5] and frame["volume"].to_list() == [10.0, 11.0]


@pytest.mark.parametrize(("body", "why"), [
    (b"not a zip", "BadZipFile"),
    (zipped(b"1,2,3,4,5,6,7,8,9,10,11,0\n", members=2), "holds 2 files"),
    (zipped(b"1735689600000,1,2,3,4,5\n"), "SchemaError"),
    (zipped(b"1735689600000,x,2,1,1,5,1,1,1,1,1,0\n"), "ComputeError"),
])
def test_an_unreadable_file_is_a_broken_answer_naming_it(body, why):
    with pytest.raises(BrokenAnswerError, match=f"X.zip: not a kline archive: .*{why}"):
        parse_klines(body, file=FILE, symbol="X/Y", source="s")


def test_the_dataset_says_where_the_archive_keeps_its_files_and_one_without_files_is_passed_over(emulator):
    endpoint = replace(SPOT_CANDLES.endpoint("binance_archive"), archive_path="futures/um/{period}/klines")
    futures = replace(SPOT_CANDLES, name="futures_probe", venues={"binance_archive": endpoint})
    source = BinanceArchiveSource(emulator_url=emulator.url)
    source.fetch_range("BTC/USDT", start=MAY, end=MAY + timedelta(hours=1), timeframe="1m", dataset=futures)
    assert [r["path"] for r in emulator.request_log() if r["venue"] == "binance_archive"][0] == (
        "/data/futures/um/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-05.zip.CHECKSUM")
    okx_only = replace(SPOT_CANDLES, name="okx_only", venues={"okx": SPOT_CANDLES.endpoint("okx")})
    assert source.cannot_serve(MAY, "1m", dataset=okx_only) == "binance_archive does not serve the dataset okx_only"


METRICS = OPEN_INTEREST.endpoint("binance_archive").archive_path


def test_metrics_are_day_files_named_by_their_data_in_a_folder_without_interval():
    """Even for ended months: the archive publishes metrics as day files only."""
    found = pieces("BTCUSDT", "5m", start=datetime(2025, 1, 31, 23), end=datetime(2025, 2, 2, 1),
                   now=datetime(2025, 3, 5), path=METRICS)
    assert [p.file.path for p in found] == [
        f"/data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2025-{day}.zip" for day in ("01-31", "02-01", "02-02")]
    assert {p.stand_ins for p in found} == {()} and {p.file.data for p in found} == {"metrics"}


def test_a_metrics_file_is_read_by_its_header_whatever_the_order_and_the_other_columns():
    rows = (b"sum_taker_long_short_vol_ratio,create_time,symbol,sum_open_interest_value,sum_open_interest\n"
            b"1.1,2025-06-01 00:00:00,BTCUSDT,2736918810.1,27686.372\n"
            b"0.9,2025-06-01 00:05:00,BTCUSDT,2712345678.9,27496.877\n")
    file = ArchiveFile("M.zip", "/m/M.zip", datetime(2025, 6, 1), datetime(2025, 6, 2), data="metrics")
    frame = parse_file(zipped(rows), file=file, symbol="BTC/USDT:USDT", source="s")
    assert frame.schema == OPEN_INTEREST.schema
    assert frame["ts"].to_list() == [datetime(2025, 6, 1), datetime(2025, 6, 1, 0, 5)]
    assert frame["open_interest"].to_list() == [27686.372, 27496.877]
    assert frame["open_interest_value"].to_list() == [2736918810.1, 2712345678.9]
    with pytest.raises(BrokenAnswerError, match="M.zip: not a metrics archive: .*sum_open_interest"):
        parse_file(zipped(b"create_time,symbol\n2025-06-01 00:00:00,BTCUSDT\n"), file=file, symbol="X", source="s")


def test_a_delisted_pair_is_backfilled_from_the_archive_which_keeps_its_months(tmp_path, warehouse):
    """MATIC/USDT, delisted by Binance on 2024-09-10 at 03:00 UTC: the archive's September file holds its candles up
    to the delisting, Binance (BREAK, ccxt active False) dates the delisting, and a later window is after it."""
    from datafactory_assets.emulator.server import Emulator

    matic = SymbolSettings(symbol="MATIC/USDT", timeframe="1m", start=datetime(2024, 8, 31, tzinfo=UTC),
                           sources=("binance_archive", "binance"))
    with Emulator(symbols=["BTC/USDT", "MATIC/USDT"]) as emu:
        sources = SourcesResource(emulator_url=emu.url, state_path=str(tmp_path / "state.sqlite"))
        august = ingest_window(matic, start=matic.start, end=datetime(2024, 9, 1, tzinfo=UTC), sources=sources,
                               warehouse=warehouse)
        across = ingest_window(matic, start=datetime(2024, 9, 1, tzinfo=UTC), end=datetime(2024, 9, 11, tzinfo=UTC),
                               sources=sources, warehouse=warehouse)
        after = ingest_window(matic, start=datetime(2024, 9, 12, tzinfo=UTC), end=datetime(2024, 9, 13, tzinfo=UTC),
                              sources=sources, warehouse=warehouse)
        archived = archive_requests(emu)
    assert (august.source, august.rows, across.source, across.rows) == ("binance_archive", 1440, "binance_archive",
                                                                        (9 * 24 + 3) * 60)
    assert across.delisted == after.delisted == datetime(2024, 9, 10, 3) and after.rows == 0
    assert "MATICUSDT-1m-2024-09.zip" in archived
    with warehouse.connect(read_only=True) as conn:
        row = queries.coverage(conn, [matic], until=datetime(2024, 12, 1)).row(0, named=True)
    assert (row["expected"], row["rows"], row["missing"], row["note"]) == (
        (10 * 24 + 3) * 60, (10 * 24 + 3) * 60, 0, "delisted 2024-09-10")
