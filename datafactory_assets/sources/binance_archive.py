"""Deep history from Binance's public bulk archive (data.binance.vision): one zip of klines per month or per day.

Where a dataset's files live is its `VenueEndpoint.archive_path` for this source (spot klines:
`spot/{period}/klines`, period `monthly` or `daily`; a perpetual's under `futures/um/{period}/...`, named by the same
market id, `BTCUSDT`); a dataset without one is not served. Kline folders hold one folder per interval; the USDⓈ-M
`metrics` folder (open interest every 5 minutes, daily files only) names its files by their data instead
(`BTCUSDT-metrics-2025-06-01.zip`) and its CSVs, like every futures/um CSV and unlike the spot ones, start with a
header row, so they are read by column name (`_NAMED_BY_DATA`, `_PARSERS`).

For years of 1-minute history one month file (44,640 candles in one download) is far faster than 45 REST pages, and
it spends none of the REST API's request weight. Every file is checked against the SHA-256 the archive publishes
beside it before anything in it is read; a mismatch is a broken answer and nothing of the file is used. Verified
files are kept in a bounded on-disk cache, so the runs of a multi-run backfill download a month once.

Month files appear some days after the month ends and day files the day after; the archive answers 404 for a file
that does not exist (not yet, or before the symbol was listed), which reads as "no candles there" so that the
failover chain fills them from the next source. A window starting less than `min_age` ago is not claimed at all.
Spot files carry open and close times in milliseconds until 2024 and in microseconds from 2025-01-01; the unit is
told per value, by its size.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl
import requests

from datafactory_assets.datasets import SPOT_CANDLES, Dataset
from datafactory_assets.datasets.open_interest import OPEN_INTEREST, open_interest_from_columns
from datafactory_assets.frames import candles_from_columns, empty_candles
from datafactory_assets.sources.base import (
    BrokenAnswerError,
    ErrorKind,
    FetchResult,
    RequestRecord,
    SourceError,
    epoch_ms,
    naive_utc,
    recorded,
    retry_after_s,
    runner,
    status_kind,
    unserved,
)
from datafactory_assets.sources.file_cache import FileCache
from datafactory_assets.sources.transport import EmulatorSession

ARCHIVE = "https://data.binance.vision"
NAME = "binance_archive"
# Platform timeframes (they divide an hour) that the archive publishes.
INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h")
# A month file still missing this long after the month ended is taken to mean "no candles that month" (the symbol
# was not listed); sooner, it is probably not published yet and the month's day files are read instead.
MONTH_FILE_GRACE = timedelta(days=15)
COLUMNS = {
    "open_time": pl.Int64, "open": pl.Float64, "high": pl.Float64, "low": pl.Float64, "close": pl.Float64,
    "volume": pl.Float64, "close_time": pl.Int64, "quote_volume": pl.Float64, "trades": pl.Int64,
    "taker_buy_base": pl.Float64, "taker_buy_quote": pl.Float64, "ignore": pl.String,
}
# Folders whose files are named by their data rather than an interval, with the periods the archive publishes them
# for (binance-public-data's README and download-futures-metrics.py: metrics come in daily files only).
_NAMED_BY_DATA = {"metrics": ("daily",)}
_METRICS_TIME = "%Y-%m-%d %H:%M:%S"
_MICROSECONDS_FROM = 10**14  # epoch ms stay below this until the year 5138; epoch µs passed it in 1973
_CHECKSUM = re.compile(r"^([0-9a-f]{64})\s+(\S+)\s*$")


@dataclass(frozen=True)
class ArchiveFile:
    """One published zip: its name, where it lives under the archive, and the open times it covers."""

    name: str
    path: str
    start: datetime  # naive UTC, as in the canonical frame
    end: datetime
    data: str = "klines"  # the folder's kind of data, which says how its CSV reads (`_PARSERS`)


@dataclass(frozen=True)
class Piece:
    """A file to read for a window, and the day files that stand in for it when it is not published yet."""

    file: ArchiveFile
    stand_ins: tuple[ArchiveFile, ...] = ()


class BinanceArchiveSource:
    """Binance spot klines from the bulk archive; `emulator_url` sends its session to the emulator, its only test
    switch. `cache` keeps verified files (None: nothing is kept)."""

    name = NAME
    publishes_later = True  # files appear days after the fact
    lists_pairs = False  # a file it lacks (404) may be unpublished or a pair not listed: it cannot tell which

    def __init__(self, *, emulator_url: str | None = None, cache: FileCache | None = None,
                 min_age: timedelta = timedelta(days=2), timeout_s: float = 30):
        self.session = EmulatorSession(base_url=emulator_url, venue=NAME) if emulator_url else requests.Session()
        self.cache = cache
        self.min_age = min_age
        self.timeout_s = timeout_s

    def cannot_serve(self, start: datetime, timeframe: str, *, dataset: Dataset = SPOT_CANDLES) -> str | None:
        """Why the archive cannot serve a window of `dataset` starting at `start`: no files of the dataset, an
        interval it lacks, or a start so recent that its files are not published yet."""
        missing = unserved(dataset, self.name)
        if missing:
            return missing
        if timeframe not in INTERVALS:
            return f"{self.name} has no {timeframe} files; it serves {', '.join(INTERVALS)}"
        if epoch_ms(start) > epoch_ms(datetime.now(UTC) - self.min_age):
            return (f"{self.name} serves windows starting at least {self.min_age.total_seconds() / 86_400:g} days "
                    f"ago; the window starts {naive_utc(epoch_ms(start)):%Y-%m-%d %H:%M} UTC")
        return None

    def quote_note(self, symbol: str) -> str | None:
        """The archive lists Binance's own pairs, so the quote currency is the one asked for."""
        return None

    def first_candle_since(self, symbol: str, *, since: datetime, timeframe: str, guard=None,
                           dataset: Dataset = SPOT_CANDLES) -> datetime | None:
        """Not asked of the archive: a file it lacks does not say whether the pair was listed then."""
        return None

    def delisted_at(self, symbol: str, *, timeframe: str, guard=None,
                    dataset: Dataset = SPOT_CANDLES) -> datetime | None:
        """Not asked of the archive: it keeps a delisted pair's files and has no market list to say so."""
        return None

    def fetch_range(self, symbol: str, *, start: datetime, end: datetime, timeframe: str, guard=None,
                    dataset: Dataset = SPOT_CANDLES) -> FetchResult:
        """The candles of `dataset` with open time in [start, end) that the archive holds, oldest first, as the
        canonical frame.

        Each download (checksum, then zip) goes through `guard.run` when given. Raises `SourceError` (with the
        requests made so far) when the archive fails, and `BrokenAnswerError` when a file does not match its
        checksum or is not a kline file. Files not published (404) contribute no candles.
        """
        if timeframe not in INTERVALS:
            raise SourceError(self.cannot_serve(start, timeframe), kind=ErrorKind.PERMANENT)
        endpoint = dataset.endpoint(self.name)
        run = runner(guard)
        first, last = naive_utc(epoch_ms(start)), naive_utc(epoch_ms(end))
        market = symbol.partition(":")[0].replace("/", "")  # the archive's id: BTCUSDT for BTC/USDT:USDT too
        requests_made: list[RequestRecord] = []
        frames, files = [dataset.empty()], []
        try:
            for piece in pieces(market, timeframe, start=first, end=last, now=naive_utc(epoch_ms(datetime.now(UTC))),
                                path=endpoint.archive_path):
                frames.extend(self._read_piece(piece, symbol=symbol, run=run, weight=endpoint.weight,
                                               requests_made=requests_made, read_files=files, window=(first, last)))
        except SourceError as exc:
            exc.requests = requests_made
            raise
        frame = pl.concat(frames).filter(pl.col("ts").is_between(first, last, closed="left"))
        return FetchResult(frame=frame.unique(maintain_order=True).sort("ts"), requests=requests_made,
                           vouched=_vouched(files, start=first, end=last))

    def _read_piece(self, piece: Piece, *, symbol: str, run, weight: int, requests_made: list[RequestRecord],
                    read_files: list[tuple[ArchiveFile, pl.DataFrame]],
                    window: tuple[datetime, datetime]) -> list[pl.DataFrame]:
        """The piece's candles: its file's, or, when that is not published, those of its stand-ins; each verified
        file read is added to `read_files` with its candles."""
        for file in (piece.file, *piece.stand_ins):
            frame = self._read(file, symbol=symbol, run=run, weight=weight, requests_made=requests_made,
                               window=window)
            if frame is not None:
                read_files.append((file, frame))
                if file is piece.file:
                    return [frame]
        return [frame for file, frame in read_files if file in piece.stand_ins]

    def _read(self, file: ArchiveFile, *, symbol: str, run, weight: int, requests_made: list[RequestRecord],
              window: tuple[datetime, datetime]) -> pl.DataFrame | None:
        """The file's candles, from the cache or downloaded and verified (then cached); None when not published."""
        key = file.path.lstrip("/")  # the name alone is the same for a spot and a futures file: see `file_cache`
        body = self.cache.get(key) if self.cache else None
        if body is not None:
            return parse_file(body, file=file, symbol=symbol, source=self.name)
        fetched = run(lambda: self._download(file, symbol=symbol, requests_made=requests_made, window=window),
                      weight=weight)
        if fetched is None:
            return None
        body, frame = fetched
        if self.cache:
            self.cache.put(key, body)
        return frame

    def _download(self, file: ArchiveFile, *, symbol: str, requests_made: list[RequestRecord],
                  window: tuple[datetime, datetime]) -> tuple[bytes, pl.DataFrame] | None:
        """One file's checksum and body, recorded as one request; the body is parsed only once it is verified.

        The record's window and rows are the part of the file inside the asked `window`, not the whole file: the
        warehouse counts a minute a logged request covered and nothing holds as missing (asked, not served), and
        the file's minutes outside the window were served, only not kept (a fresh fill's oldest run, one day of a
        month file, showed the month's other 30 days of every symbol as missing until their run came)."""
        first, last = max(file.start, window[0]), min(file.end, window[1])
        with recorded(requests_made, source=self.name, symbol=symbol, window_start=first,
                      window_end=last) as probe:
            published = self._get(file.path + ".CHECKSUM")
            if published is None:
                return None
            digest = _published_digest(published, file=file)
            body = self._get(file.path)
            if body is None:  # its checksum is up before it: not fully published yet
                return None
            actual = hashlib.sha256(body).hexdigest()
            if actual != digest:
                raise BrokenAnswerError(f"{self.name} {file.name}: SHA-256 {actual} does not match the published "
                                        f"{digest}; the file is not used")
            frame = parse_file(body, file=file, symbol=symbol, source=self.name)
            probe.rows = frame.filter(pl.col("ts").is_between(first, last, closed="left")).height
        return body, frame

    def _get(self, path: str) -> bytes | None:
        """The body at `path`, or None for a 404 (not published); other failures are classified `SourceError`s."""
        where = f"{self.name} {path.rsplit('/', 1)[-1]}"
        try:
            answer = self.session.get(ARCHIVE + path, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise SourceError(f"{where}: {type(exc).__name__}: {exc}", kind=ErrorKind.TRANSIENT) from exc
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise SourceError(f"{where}: HTTP {answer.status_code}: {answer.text[:200]}",
                              kind=status_kind(answer.status_code) or ErrorKind.TRANSIENT,
                              retry_after_s=retry_after_s(answer.headers))
        return answer.content


def _vouched(files: list[tuple[ArchiveFile, pl.DataFrame]], *, start: datetime,
             end: datetime) -> list[tuple[datetime, datetime]]:
    """The open times [first, last] of the window that verified files cover: a whole file was read, so a candle it
    lacks is one Binance did not publish. A file without a candle vouches for nothing (the pair may not have been
    listed yet, which is no hole), and one whose first candle comes late only from that candle on (the listing)."""
    spans = []
    for file, frame in files:
        if frame.height:
            first, last = max(frame["ts"].min(), start), min(file.end, end) - timedelta(microseconds=1)
            if first <= last:
                spans.append((first, last))
    return spans


def pieces(market: str, timeframe: str, *, start: datetime, end: datetime, now: datetime,
           path: str = SPOT_CANDLES.endpoint(NAME).archive_path) -> list[Piece]:
    """The files holding [start, end) (naive UTC) under `path` (a dataset's `archive_path`): a month file per ended
    month, with its ended days as stand-ins while it may still be unpublished, and day files for the ended days of
    the month still running; for a folder of day files only (`_NAMED_BY_DATA`), every ended day's file."""
    if "monthly" not in _NAMED_BY_DATA.get(_data(path), ("monthly",)):
        return [Piece(_day_file(market, timeframe, day, path=path)) for day in _days(start, end)
                if day + timedelta(days=1) <= now]
    found = []
    month = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while month < end:
        month_end = (month + timedelta(days=32)).replace(day=1)
        days = [_day_file(market, timeframe, day, path=path)
                for day in _days(max(start, month), min(end, month_end)) if day + timedelta(days=1) <= now]
        if month_end <= now:
            found.append(Piece(_month_file(market, timeframe, month, month_end, path=path),
                               tuple(days) if now - month_end < MONTH_FILE_GRACE else ()))
        else:
            found.extend(Piece(day) for day in days)
        month = month_end
    return found


def parse_file(body: bytes, *, file: ArchiveFile, symbol: str, source: str) -> pl.DataFrame:
    """A verified zip as its dataset's frame, read as its folder's data reads (`_PARSERS`)."""
    return _PARSERS[file.data](body, file=file, symbol=symbol, source=source)


def parse_klines(body: bytes, *, file: ArchiveFile, symbol: str, source: str) -> pl.DataFrame:
    """A verified zip's one CSV (12 columns; spot files have no header row, futures/um files start with one, told
    by its first character) as the canonical frame; open times in ms or µs alike.

    Raises `BrokenAnswerError` naming the file when it is not one readable kline CSV.
    """
    with _one_csv(body, file=file, source=source, data="kline") as text:
        if not text.strip():
            return empty_candles()
        rows = pl.read_csv(text, has_header=False, skip_rows=0 if text[:1].isdigit() else 1, schema=COLUMNS)
    open_time = pl.col("open_time")
    return candles_from_columns(
        rows.with_columns(open_ms=pl.when(open_time >= _MICROSECONDS_FROM).then(open_time // 1000)
                          .otherwise(open_time)),
        symbol=symbol, source=source)


def parse_metrics(body: bytes, *, file: ArchiveFile, symbol: str, source: str) -> pl.DataFrame:
    """A verified zip's futures metrics CSV as the open interest frame, by its header's column names (it has
    others: long/short ratios); `create_time` is `YYYY-MM-DD HH:MM:SS` UTC.

    Raises `BrokenAnswerError` naming the file when it is not one readable metrics CSV.
    """
    with _one_csv(body, file=file, source=source, data="metrics") as text:
        if not text.strip():
            return OPEN_INTEREST.empty()
        rows = pl.read_csv(text, columns=["create_time", "sum_open_interest", "sum_open_interest_value"],
                           schema_overrides={"create_time": pl.String, "sum_open_interest": pl.Float64,
                                             "sum_open_interest_value": pl.Float64})
        columns = rows.select(
            open_ms=pl.col("create_time").str.strptime(pl.Datetime("ms"), _METRICS_TIME).dt.epoch("ms"),
            open_interest="sum_open_interest", open_interest_value="sum_open_interest_value")
    return open_interest_from_columns(columns, symbol=symbol, source=source)


# How each folder's files read.
_PARSERS = {"klines": parse_klines, "metrics": parse_metrics}


@contextmanager
def _one_csv(body: bytes, *, file: ArchiveFile, source: str, data: str) -> Iterator[bytes]:
    """The zip's one member; what fails while it is read inside the block is a `BrokenAnswerError` naming the
    file."""
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            members = archive.namelist()
            if len(members) != 1:
                raise ValueError(f"holds {len(members)} files, not one CSV")
            text = archive.read(members[0])
        yield text
    except (zipfile.BadZipFile, ValueError, pl.exceptions.PolarsError) as exc:
        raise BrokenAnswerError(f"{source} {file.name}: not a {data} archive: {type(exc).__name__}: {exc}") from exc


def _published_digest(published: bytes, *, file: ArchiveFile) -> str:
    """The hex digest from a `.CHECKSUM` file (`<sha256>  <file name>`), which must name this very file."""
    match = _CHECKSUM.match(published.decode("utf-8", errors="replace"))
    if match is None or match.group(2) != file.name:
        raise BrokenAnswerError(f"{NAME} {file.name}: the checksum file is not '<sha256>  {file.name}': "
                                f"{published[:120]!r}")
    return match.group(1)


def _month_file(market: str, timeframe: str, month: datetime, month_end: datetime, *, path: str) -> ArchiveFile:
    return _file(market, timeframe, f"{month:%Y-%m}", month, month_end, folder=path.format(period="monthly"))


def _day_file(market: str, timeframe: str, day: datetime, *, path: str) -> ArchiveFile:
    return _file(market, timeframe, f"{day:%Y-%m-%d}", day, day + timedelta(days=1),
                 folder=path.format(period="daily"))


def _file(market: str, timeframe: str, period: str, start: datetime, end: datetime, *, folder: str) -> ArchiveFile:
    """`<market>/<interval>/<market>-<interval>-<period>.zip` in an interval's folder, `<market>/<market>-<data>-
    <period>.zip` in a folder named by its data."""
    data = _data(folder)
    if data in _NAMED_BY_DATA:
        name = f"{market}-{data}-{period}.zip"
        return ArchiveFile(name, f"/data/{folder}/{market}/{name}", start, end, data=data)
    name = f"{market}-{timeframe}-{period}.zip"
    return ArchiveFile(name, f"/data/{folder}/{market}/{timeframe}/{name}", start, end)


def _data(path: str) -> str:
    """The kind of data a folder path holds: its last part (`klines`, `metrics`)."""
    return path.rsplit("/", 1)[-1]


def _days(start: datetime, end: datetime) -> list[datetime]:
    """The midnights of the days that [start, end) touches."""
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    return [day + timedelta(days=n) for n in range((end - day + timedelta(days=1, microseconds=-1)).days)]

