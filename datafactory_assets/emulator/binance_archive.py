"""Binance's public bulk archive (data.binance.vision): month and day zips with their `.CHECKSUM` files, made from
the same data as the emulator's Binance spot and USDⓈ-M REST APIs.

Paths are the archive's own, `/data/spot/{monthly|daily}/klines/<SYMBOL>/<INTERVAL>/<SYMBOL>-<INTERVAL>-<PERIOD>.zip`
and the same with `.CHECKSUM` (`<sha256 hex>  <file name>`). A zip holds one CSV without header with Binance's 12
kline fields; open and close times are in milliseconds for periods before 2025 and in microseconds from 2025-01-01,
as in the real spot files. A month file is published `MONTH_LAG_MS` after the month ends, a day file `DAY_LAG_MS`
after the day; a file not (yet) published, of a symbol or interval the archive lacks, or of a period without candles
is a 404 in the archive's (S3's) XML shape.

The USDⓈ-M futures folders (binance-public-data's README and python/download-futures-*.py scripts) are
`/data/futures/um/{monthly|daily}/{klines|markPriceKlines|indexPriceKlines|premiumIndexKlines}/<SYMBOL>/<INTERVAL>/
<SYMBOL>-<INTERVAL>-<PERIOD>.zip`, `/data/futures/um/monthly/fundingRate/<SYMBOL>/<SYMBOL>-fundingRate-<YYYY-MM>.zip`
and `/data/futures/um/daily/metrics/<SYMBOL>/<SYMBOL>-metrics-<YYYY-MM-DD>.zip`, for the emulator's USDT perpetuals;
their CSVs, with a header row, are `binance_archive_um.py`'s.

Faults hit the zips, never their checksum files: a kind that alters candles (`spike`, `holes`, ...) serves a
well-formed zip that no longer matches its published checksum, which is how a corrupted or tampered download looks
to a client, and `garbage` a broken body.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from datafactory_assets.emulator.binance import INTERVALS_MS, kline_fields
from datafactory_assets.emulator.binance_archive_um import KLINE_DATA, funding_csv, metrics_csv
from datafactory_assets.emulator.binance_archive_um import kline_csv as um_kline_csv
from datafactory_assets.emulator.perp_series import OPEN_INTEREST_MS, perpetual_of
from datafactory_assets.emulator.venue import Request, Response, Venue

DAY_MS = 86_400_000
MONTH_LAG_MS = 3 * DAY_MS  # real month files appear a few days into the next month
DAY_LAG_MS = 6 * 3_600_000  # real day files appear in the course of the next day
MICROSECONDS_FROM_MS = 1_735_689_600_000  # 2025-01-01T00:00Z: spot files switch to microsecond times
BUILT_FILES = 8  # zips kept built, so that a checksum request and the zip request after it build the zip once
_TAIL = r"(?P<period>\d{4}-\d{2}(?:-\d{2})?)\.zip(?P<checksum>\.CHECKSUM)?$"
# The archive's folders: spot klines; USDⓈ-M klines of four prices, funding rates (monthly), metrics (daily).
_PATHS = (
    re.compile(r"^/data/(?P<market_type>spot)/(?P<kind>monthly|daily)/(?P<data>klines)/(?P<market>[A-Z0-9]+)/"
               r"(?P<interval>\w+)/(?P=market)-(?P=interval)-" + _TAIL),
    re.compile(r"^/data/futures/(?P<market_type>um)/(?P<kind>monthly|daily)/"
               r"(?P<data>klines|markPriceKlines|indexPriceKlines|premiumIndexKlines)/(?P<market>[A-Z0-9]+)/"
               r"(?P<interval>\w+)/(?P=market)-(?P=interval)-" + _TAIL),
    re.compile(r"^/data/futures/(?P<market_type>um)/(?P<kind>monthly)/(?P<data>fundingRate)/(?P<market>[A-Z0-9]+)/"
               r"(?P=market)-(?P=data)-" + _TAIL),
    re.compile(r"^/data/futures/(?P<market_type>um)/(?P<kind>daily)/(?P<data>metrics)/(?P<market>[A-Z0-9]+)/"
               r"(?P=market)-(?P=data)-" + _TAIL),
)
_PERIOD_FORMATS = {"monthly": "%Y-%m", "daily": "%Y-%m-%d"}
_S3_CODES = {403: "AccessDenied", 404: "NoSuchKey", 405: "MethodNotAllowed", 503: "SlowDown"}


@dataclass(frozen=True)
class _File:
    """One published archive file: its folder (`market_type`, `data`), instrument, period and interval."""

    path: str
    market_type: str
    data: str
    market_id: str
    symbol: str
    start_ms: int
    end_ms: int
    timeframe_ms: int


class BinanceArchiveVenue(Venue):
    """`/data/spot/{monthly,daily}/klines/...` and `/data/futures/um/...` zips and checksums."""

    id = "binance_archive"

    def __init__(self, store):
        super().__init__(store)
        spots = {symbol.replace("/", ""): symbol for symbol in store.symbols}
        self._by_id = {"spot": spots, "um": {market_id: perpetual_of(symbol) for market_id, symbol in spots.items()
                                             if symbol.endswith("/USDT")}}
        self._built: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def respond(self, request: Request) -> Response:
        if request.method != "GET":
            return self.error(405, f"{request.method} is not supported on {request.path}")
        match = next(filter(None, (path.match(request.path) for path in _PATHS)), None)
        if match is None:
            return self.error(404, "The specified key does not exist.")
        file = self._published_file(match, now_ms=request.now_ms)
        body = file and self._zip(file, now_ms=request.now_ms)
        if body is None:
            return self.error(404, "The specified key does not exist.")
        if match["checksum"]:
            name = request.path.rsplit("/", 1)[1].removesuffix(".CHECKSUM")
            return Response(status=200, body=f"{hashlib.sha256(body).hexdigest()}  {name}\n".encode(),
                            headers={"Content-Type": "text/plain"}, cacheable=True)
        return Response(status=200, body=body, headers={"Content-Type": "application/zip"}, cacheable=True)

    def is_data(self, request: Request) -> bool:
        return request.path.endswith(".zip")

    def error(self, status: int, message: str) -> Response:
        code = _S3_CODES.get(status, "InternalError" if status >= 500 else "InvalidRequest")
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
                f"</Error>").encode()
        return Response(status=status, body=body, headers={"Content-Type": "application/xml"})

    def empty(self) -> Response:
        return Response(status=200, body=_zipped("empty.csv", b"", date=(1980, 1, 1)),
                        headers={"Content-Type": "application/zip"})

    def with_store(self, store) -> BinanceArchiveVenue:
        """A copy over `store` with no built zips of its own: an altered store's zips must never be reused."""
        venue = super().with_store(store)
        venue._built, venue._lock = OrderedDict(), threading.Lock()
        return venue

    def _published_file(self, match: re.Match, *, now_ms: int) -> _File | None:
        """The file the request names if the archive has published it by now, else None."""
        symbol = self._by_id[match["market_type"]].get(match["market"])
        interval = match.groupdict().get("interval")
        timeframe_ms = INTERVALS_MS.get(interval) if interval else 1
        try:
            first = datetime.strptime(match["period"], _PERIOD_FORMATS[match["kind"]]).replace(tzinfo=UTC)
        except ValueError:
            return None
        if match["kind"] == "monthly":
            after, lag = (first + timedelta(days=32)).replace(day=1), MONTH_LAG_MS
        else:
            after, lag = first + timedelta(days=1), DAY_LAG_MS
        start_ms, end_ms = int(first.timestamp() * 1000), int(after.timestamp() * 1000)
        if symbol is None or timeframe_ms is None or end_ms + lag > now_ms:
            return None
        return _File(path=match.group(0).removesuffix(".CHECKSUM"), market_type=match["market_type"],
                     data=match["data"], market_id=match["market"], symbol=symbol, start_ms=start_ms, end_ms=end_ms,
                     timeframe_ms=timeframe_ms)

    def _zip(self, file: _File, *, now_ms: int) -> bytes | None:
        """The file's zip, built once per few requests; None when the period has no data (before listing)."""
        with self._lock:
            if file.path in self._built:
                self._built.move_to_end(file.path)
                return self._built[file.path]
        page = self.store.page(file.symbol, timeframe_ms=OPEN_INTEREST_MS if file.data == "metrics" else
                               file.timeframe_ms, start_ms=file.start_ms, end_ms=file.end_ms - 1, limit=2**31,
                               now_ms=now_ms, series=_SERIES.get(file.data, "trade"))
        if page.frame.is_empty():
            return None
        name = file.path.rsplit("/", 1)[1].removesuffix(".zip")
        body = _zipped(name + ".csv", _csv(file, page.frame),
                       date=datetime.fromtimestamp(file.end_ms / 1000, UTC).timetuple()[:3])
        if page.final:
            with self._lock:
                self._built[file.path] = body
                while len(self._built) > BUILT_FILES:
                    self._built.popitem(last=False)
        return body


_SERIES = {**KLINE_DATA, "fundingRate": "funding", "metrics": "open_interest"}


def _csv(file: _File, frame: pl.DataFrame) -> bytes:
    """The file's CSV: spot klines without header, futures files with theirs."""
    if file.market_type == "spot":
        return kline_csv(frame, file.timeframe_ms, microseconds=file.start_ms >= MICROSECONDS_FROM_MS)
    if file.data == "fundingRate":
        return funding_csv(frame)
    if file.data == "metrics":
        return metrics_csv(frame, market_id=file.market_id)
    return um_kline_csv(frame, file.timeframe_ms, kind=KLINE_DATA[file.data])


def kline_csv(frame: pl.DataFrame, timeframe_ms: int, *, microseconds: bool) -> bytes:
    """Binance's 12 kline fields as headerless CSV lines, prices with 8 decimals when that is exact (as Binance
    writes them), else in full; times in microseconds when asked."""
    fields = kline_fields(frame, timeframe_ms)
    if microseconds:
        fields["open_time"] = fields["open_time"] * 1000
        fields["close_time"] = (fields["close_time"] + 1) * 1000 - 1
    table = pl.DataFrame({**fields, "ignore": np.zeros(frame.height, dtype=np.int64)})
    exact = all(np.array_equal(np.round(column, 8), column, equal_nan=True)
                for column in fields.values() if column.dtype.kind == "f")
    return table.write_csv(include_header=False, float_precision=8 if exact else None).encode()


def _zipped(member: str, content: bytes, *, date: tuple[int, int, int]) -> bytes:
    """One deflated member in a zip whose bytes depend on nothing but the arguments."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(member, date_time=(*date, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, content)
    return buffer.getvalue()
