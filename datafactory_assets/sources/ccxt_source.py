"""Candles from any ccxt exchange, fetched forward page by page over a window.

ccxt's own `paginate` walks from the newest window backwards; a backfill needs the opposite, from `since` to the end
of the window, so the loop is ours. ccxt reads a garbled HTTP 200 body as "no candles" and returns `[]`; the adapter
compares what ccxt parsed with the raw JSON it saw and raises `BrokenAnswerError` instead.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
import ccxt

from datafactory_assets.frames import candles_from_rows
from datafactory_assets.sources.base import BrokenAnswerError, FetchResult, RequestRecord, SourceError
from datafactory_assets.sources.transport import emulator_url
from datafactory_assets.sources.venues import VENUES

log = logging.getLogger(__name__)


def point_at_emulator(urls, *, base_url: str, venue: str):
    """Return `urls` (ccxt's nested `urls['api']`) with every scheme+host replaced by `{base_url}/{venue}`."""
    if isinstance(urls, dict):
        return {key: point_at_emulator(value, base_url=base_url, venue=venue) for key, value in urls.items()}
    if isinstance(urls, str) and "://" in urls:
        return emulator_url(urls, base_url=base_url, venue=venue)
    return urls


class CcxtCandleSource:
    """One ccxt exchange client, configured from the venue's quirks; the emulator URL is its only test switch."""

    def __init__(self, exchange_id: str, *, emulator_url: str | None = None, rate_limit: bool = True,
                 timeout_ms: int = 10_000):
        self.name = exchange_id
        self.quirks = VENUES[exchange_id]
        self.exchange = getattr(ccxt, exchange_id)(
            {"enableRateLimit": rate_limit, "timeout": timeout_ms, "options": dict(self.quirks.client_options)}
        )
        self.exchange.enableLastJsonResponse = True
        if emulator_url:
            self.exchange.urls["api"] = point_at_emulator(
                self.exchange.urls["api"], base_url=emulator_url, venue=exchange_id
            )

    def fetch_range(self, symbol: str, *, start: datetime, end: datetime, timeframe: str) -> FetchResult:
        """All closed candles with open time in [start, end), oldest first, as the canonical frame.

        Raises `SourceError` (with the requests made so far) when the exchange fails, and `BrokenAnswerError` when
        an answer is not data.
        """
        tf_ms = self.exchange.parse_timeframe(timeframe) * 1000
        start_ms, end_ms = _ms(start), min(_ms(end), _ms(datetime.now(UTC)) // tf_ms * tf_ms)
        rows: list[list] = []
        requests: list[RequestRecord] = []
        since = start_ms
        while since < end_ms:
            limit = min(self.quirks.max_candles_per_request, (end_ms - since) // tf_ms)
            page = self._fetch_page(symbol, timeframe=timeframe, since=since, limit=limit, until=end_ms - 1,
                                    requests=requests)
            rows.extend(page)
            if len(page) < limit:
                break
            since = page[-1][0] + tf_ms
        frame = candles_from_rows(
            [r for r in rows if start_ms <= r[0] < end_ms], symbol=symbol, source=self.name
        )
        return FetchResult(frame=frame, requests=requests)

    def _fetch_page(self, symbol: str, *, timeframe: str, since: int, limit: int, until: int,
                    requests: list[RequestRecord]) -> list[list]:
        started_at = datetime.now(UTC)
        began = time.perf_counter()
        outcome, error_class, page = "ok", None, []
        try:
            self.exchange.last_json_response = None
            page = self.exchange.fetch_ohlcv(symbol, timeframe, since=since, limit=limit, params={"until": until})
            _check_answer(self.exchange.last_json_response, page, source=self.name, symbol=symbol, since=since)
            outcome = "ok" if page else "empty"
        except BrokenAnswerError as exc:
            outcome, error_class = "error", type(exc).__name__
            exc.requests = requests
            raise
        except ccxt.BaseError as exc:
            outcome, error_class = "error", type(exc).__name__
            raise SourceError(f"{self.name} {symbol}: {type(exc).__name__}: {exc}", requests=requests) from exc
        finally:
            requests.append(RequestRecord(
                source=self.name, symbol=symbol, window_start=_dt(since), window_end=_dt(until + 1), rows=len(page),
                latency_ms=(time.perf_counter() - began) * 1000, outcome=outcome, error_class=error_class,
                requested_at=started_at,
            ))
        if page and page[0][0] < since:
            raise BrokenAnswerError(f"{self.name} {symbol}: page for since={since} starts before it at {page[0][0]}",
                                    requests=requests)
        return page


def _check_answer(raw, page: list, *, source: str, symbol: str, since: int) -> None:
    """A page is data only if the body was JSON and ccxt parsed every row of it."""
    if raw is None:
        raise BrokenAnswerError(f"{source} {symbol}: answer for since={since} is not JSON (garbled or truncated body)")
    if isinstance(raw, list) and len(raw) != len(page):
        raise BrokenAnswerError(
            f"{source} {symbol}: answer for since={since} has {len(raw)} rows but only {len(page)} parse as candles"
        )


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)
