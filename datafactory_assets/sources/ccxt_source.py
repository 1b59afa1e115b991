"""A dataset's rows from any ccxt exchange, fetched forward page by page over a window.

What is asked (the ccxt method, its extra parameters, rows per request, their cost, how far back) is the dataset's
`VenueEndpoint` for the venue, and the rows become the dataset's frame through `Dataset.from_rows`; the loop, the
error classification and the checks of an answer are the same for every dataset.

ccxt's own `paginate` walks from the newest window backwards; a backfill needs the opposite, from `since` to the end
of the window, so the loop is ours. ccxt reads a garbled HTTP 200 body as "no candles" and returns `[]`; the adapter
compares what ccxt parsed with the raw JSON it saw and raises `BrokenAnswerError` instead. Failures are classified
here, from ccxt's exception and the HTTP status, into the `ErrorKind` the resilience layer acts on: a venue's own ban
statuses (`VenueQuirks.ban_statuses`: Bybit's 403, which ccxt calls RateLimitExceeded, and Binance's firewall 403,
an HTML page ccxt calls ExchangeNotAvailable) are bans, told in one line. A venue whose answers always end with the
still-open candle (Kraken's OHLC, `VenueEndpoint.last_row_open`) is asked for its whole answer and that last row is
dropped, whatever our clock says. A Binance client turns its kline pages into rows through `kline_rows`' fast parse,
which returns what ccxt's own would (and is ccxt's own for any page not well-formed).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import ccxt
import polars as pl

from datafactory_assets.datasets import SPOT_CANDLES, Dataset, VenueEndpoint
from datafactory_assets.sources.base import (
    BrokenAnswerError,
    ErrorKind,
    FetchResult,
    NotListedError,
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
from datafactory_assets.sources.funding_pages import fetch_funding_range
from datafactory_assets.sources.kline_rows import install_fast_parse
from datafactory_assets.sources.transport import emulator_url
from datafactory_assets.sources.venues import VENUES, venue_market

log = logging.getLogger(__name__)

_PERMANENT = (ccxt.BadSymbol, ccxt.BadRequest, ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.NotSupported,
              ccxt.ArgumentsRequired)
_THROTTLED = (ccxt.DDoSProtection, ccxt.RateLimitExceeded)


def point_at_emulator(urls, *, base_url: str, venue: str):
    """Return `urls` (ccxt's nested `urls['api']`) with every scheme+host replaced by `{base_url}/{venue}`."""
    if isinstance(urls, dict):
        return {key: point_at_emulator(value, base_url=base_url, venue=venue) for key, value in urls.items()}
    if isinstance(urls, str) and "://" in urls:
        return emulator_url(urls, base_url=base_url, venue=venue)
    return urls


def classify(exc: ccxt.BaseError, status: int | None, *, ban_statuses=()) -> ErrorKind:
    """The HTTP status decides bans and throttling whatever ccxt calls them (a venue's own ban statuses, such as
    Bybit's 403, first); then ccxt's exception; else transient."""
    if status in ban_statuses:
        return ErrorKind.BANNED
    by_status = status_kind(status)
    if by_status in (ErrorKind.BANNED, ErrorKind.THROTTLED):
        return by_status
    if isinstance(exc, _THROTTLED):
        return ErrorKind.THROTTLED
    if isinstance(exc, _PERMANENT):
        return ErrorKind.PERMANENT
    return by_status or ErrorKind.TRANSIENT


class CcxtCandleSource:
    """One ccxt exchange client for one market type of a venue (`venues.MARKETS`: Binance's perpetuals are another
    ccxt class), configured from the venue's quirks; the emulator URL is its only test switch.

    ccxt's per-process throttle is off: request budgets are kept by the shared limiter in the guard, across
    processes. Without a guard (benchmarks, tests of the adapter alone) requests go out unthrottled.
    """

    publishes_later = False  # a venue's depth only recedes: a window it cannot serve never becomes servable
    lists_pairs = True  # ccxt knows the venue's markets: an unknown pair is BadSymbol before any candle request

    def __init__(self, exchange_id: str, *, market: str = "spot", emulator_url: str | None = None,
                 timeout_ms: int = 10_000, budget_limit: int | None = None):
        self.name = exchange_id
        self.quirks = VENUES[exchange_id]
        self.budget_limit = budget_limit or self.quirks.budget
        client = venue_market(exchange_id, market)
        self.exchange = getattr(ccxt, client.ccxt_class)(
            {"enableRateLimit": False, "timeout": timeout_ms, "options": dict(client.client_options)}
        )
        self.exchange.enableLastJsonResponse = True
        install_fast_parse(self.exchange)  # Binance's kline pages: ccxt's rows at half its CPU
        self._last_status: int | None = None
        self._last_headers: dict = {}
        self._last_body = ""
        self._record_response = self.exchange.on_rest_response
        self.exchange.on_rest_response = self._on_response
        if emulator_url:
            self.exchange.urls["api"] = point_at_emulator(
                self.exchange.urls["api"], base_url=emulator_url, venue=client.ccxt_class
            )

    def _on_response(self, code, reason, url, method, headers, body, *rest):
        self._last_status, self._last_headers, self._last_body = code, headers or {}, body or ""
        return self._record_response(code, reason, url, method, headers, body, *rest)

    def fetch_range(self, symbol: str, *, start: datetime, end: datetime, timeframe: str, guard=None,
                    dataset: Dataset = SPOT_CANDLES) -> FetchResult:
        """All closed rows of `dataset` with open time in [start, end), oldest first, as its frame.

        The venue is asked for one candle more on each side where the last page has room for them (never one request
        more), and the answer
        vouches for the span between the first and last candle it holds, those included: a minute missing at the edge
        of a one-hour window then lies between candles of one answer, which is what confirming a hole needs.

        Each request goes through `guard.run` when given (budget, retry, breaker). Raises `SourceError` (with the
        requests made so far) when the exchange fails, and `BrokenAnswerError` when an answer is not data.
        """
        if dataset.cadence.venue_interval:  # events at the instrument's own interval, paged by time
            return fetch_funding_range(self, symbol, start=start, end=end, guard=guard, dataset=dataset,
                                       check_answer=_check_answer, within=_within)
        endpoint = dataset.endpoint(self.name)
        requests: list[RequestRecord] = []
        run = runner(guard)
        self._load_markets(symbol, run)
        tf_ms = self.exchange.parse_timeframe(timeframe) * 1000
        closed_ms = epoch_ms(datetime.now(UTC)) // tf_ms * tf_ms
        start_ms, end_ms = epoch_ms(start), min(epoch_ms(end), closed_ms)
        wanted = max((end_ms - start_ms) // tf_ms, 0)
        room = -(-wanted // endpoint.limit) * endpoint.limit - wanted
        ask_end = min(end_ms + tf_ms, closed_ms) if room >= 2 else end_ms
        rows: list[list] = []
        since = start_ms - tf_ms if room >= 1 else start_ms
        try:
            while since < ask_end:
                limit = min(endpoint.limit, (ask_end - since) // tf_ms)
                until = min(ask_end, since + limit * tf_ms) - 1  # this page only: some venues refuse wider asks
                page = run(lambda s=since, n=limit, u=until: self._fetch_page(
                    symbol, endpoint=endpoint, timeframe=timeframe, since=s, limit=n, until=u, requests=requests),
                    weight=endpoint.weight)
                if not page:
                    break  # nothing more in the window; a short page alone proves nothing (venues cap silently)
                rows.extend(page)
                since = row_ms(page[-1]) + tf_ms
        except SourceError as exc:
            exc.requests = _within(requests, start_ms, end_ms)
            raise
        requests = _within(requests, start_ms, end_ms)
        answer = dataset.from_rows(rows, symbol=symbol, source=self.name)
        frame = answer.filter(pl.col("ts").is_between(naive_utc(start_ms), naive_utc(end_ms), closed="left"))
        vouched = [] if frame.is_empty() else [(answer["ts"].min(), answer["ts"].max())]
        return FetchResult(frame=frame.unique().sort("ts"), requests=requests, vouched=vouched)

    def quote_note(self, symbol: str) -> str | None:
        """ccxt venues list the canonical pair itself, so the quote currency is the one asked for."""
        return None

    def first_candle_since(self, symbol: str, *, since: datetime, timeframe: str, guard=None,
                           dataset: Dataset = SPOT_CANDLES) -> datetime | None:
        """The venue's first row of `dataset` at or after `since`, where its API answers that question
        (`VenueEndpoint.first_row_since`: one row asked from `since` with no end); else None."""
        endpoint = dataset.venues.get(self.name)
        if endpoint is None or not endpoint.first_row_since:
            return None
        run = runner(guard)
        self._load_markets(symbol, run)
        page = run(lambda: self._call(getattr(self.exchange, endpoint.call), symbol, timeframe, about=symbol,
                                      since=epoch_ms(since), limit=1, params=dict(endpoint.params)),
                   weight=endpoint.weight)
        return naive_utc(page[0][0]) if page else None

    def delisted_at(self, symbol: str, *, timeframe: str, guard=None,
                    dataset: Dataset = SPOT_CANDLES) -> datetime | None:
        """When the venue's last row of `dataset` closed, for a pair its market list shows as no longer trading
        (ccxt's `active: False`: Binance's `BREAK`); None for a trading pair, one it does not list, or where its API
        cannot be asked for one row (`VenueEndpoint.first_row_since`). The market list is loaded once per client, so
        a trading pair costs no request; a delisted one costs one (its newest row: no `since`, one row)."""
        endpoint = dataset.venues.get(self.name)
        if endpoint is None or not endpoint.first_row_since:
            return None
        run = runner(guard)
        self._load_markets(symbol, run)
        market = self.exchange.markets.get(symbol)
        if market is None or market.get("active") is not False:
            return None
        page = run(lambda: self._call(getattr(self.exchange, endpoint.call), symbol, timeframe, about=symbol,
                                      limit=1, params=dict(endpoint.params)), weight=endpoint.weight)
        if not page:
            return None
        return naive_utc(page[-1][0]) + timedelta(seconds=self.exchange.parse_timeframe(timeframe))

    def cannot_serve(self, start: datetime, timeframe: str, *, dataset: Dataset = SPOT_CANDLES) -> str | None:
        """Why this venue cannot serve a window of `dataset` starting at `start`: it does not serve the dataset, or
        keeps less of it (Kraken keeps only its latest 720 candles)."""
        missing = unserved(dataset, self.name)
        if missing:
            return missing
        endpoint = dataset.endpoint(self.name)
        start_s, now = epoch_ms(start) / 1000, datetime.now(UTC).timestamp()  # a naive start is UTC, not local time
        rows = endpoint.depth_rows
        if rows is not None and start_s < now - rows * self.exchange.parse_timeframe(timeframe):
            kept = "candles" if dataset.ohlcv else f"{dataset.name} rows"
            return f"{self.name} keeps only its latest {rows} {kept}; the window starts before them"
        if endpoint.depth is not None and start_s < now - endpoint.depth.total_seconds():
            return (f"{self.name} keeps {dataset.name} only for the last {endpoint.depth / timedelta(days=1):g} "
                    "days; the window starts before them")
        return None

    def _load_markets(self, symbol: str, run) -> None:
        """The venue's market list, once per client: ccxt needs it before any other call."""
        if not self.exchange.markets:
            run(lambda: self._call(self.exchange.load_markets, about=symbol), weight=self.quirks.markets_weight)

    def _call(self, fn, *args, about: str, **kwargs):
        """Call the client and turn its failure into a classified `SourceError` about the named symbol."""
        self._last_status, self._last_headers, self._last_body = None, {}, ""
        try:
            return fn(*args, **kwargs)
        except ccxt.BaseError as exc:
            status, bans = self._last_status, self.quirks.ban_statuses
            if isinstance(exc, ccxt.BadSymbol):  # not in the venue's market list, or refused by the venue itself
                raise NotListedError(f"{self.name} does not list {about}", kind=ErrorKind.PERMANENT) from exc
            kind = classify(exc, status, ban_statuses=bans)
            wait_s = retry_after_s(self._last_headers)
            if status in bans:  # one line, whatever the body (a firewall's HTML page) holds
                wait_s = max(wait_s or 0.0, bans[status]) or None
                raise SourceError(f"{self.name} {about}: HTTP {status}: {self.quirks.ban_note}; answer "
                                  f"{_excerpt(self._last_body)}", kind=kind, retry_after_s=wait_s) from exc
            prefix = f" HTTP {status}" if status else ""
            raise SourceError(f"{self.name} {about}:{prefix} {type(exc).__name__}: {exc}", kind=kind,
                              retry_after_s=wait_s) from exc

    def _fetch_page(self, symbol: str, *, endpoint: VenueEndpoint, timeframe: str, since: int, limit: int,
                    until: int, requests: list[RequestRecord]) -> list[list]:
        with recorded(requests, source=self.name, symbol=symbol, window_start=naive_utc(since),
                      window_end=naive_utc(until + 1)) as probe:
            self.exchange.last_json_response = None
            call = getattr(self.exchange, endpoint.call)
            if endpoint.last_row_open:  # the whole answer, so that its last row is the still-open candle
                page = self._call(call, symbol, timeframe, about=symbol, since=since,
                                  params=dict(endpoint.params))[:-1]
            else:
                page = self._call(call, symbol, timeframe, about=symbol, since=since, limit=limit,
                                  params={**endpoint.params, "until": until})
            probe.rows = len(page)
            _check_answer(self.exchange.last_json_response, page, source=self.name, symbol=symbol, since=since)
        pause = budget_pause_s(self._last_headers, header=self.quirks.used_budget_header, limit=self.budget_limit,
                               now=time.time())
        if pause:
            log.warning("%s reports %s of its %d budget used this minute; pausing %.1fs",
                        self.name, self._last_headers.get(self.quirks.used_budget_header), self.budget_limit, pause)
            time.sleep(pause)
        if page and row_ms(page[0]) < since:
            raise BrokenAnswerError(f"{self.name} {symbol}: page for since={since} starts before it at "
                                    f"{row_ms(page[0])}")
        return page


def budget_pause_s(headers, *, header: str | None, limit: int, now: float) -> float:
    """Seconds to wait when the venue says this minute's budget is spent (its count includes clients we cannot
    see, such as other programs on our IP); 0 otherwise."""
    used = (headers or {}).get(header) if header else None
    try:
        if used is None or int(used) < limit:
            return 0.0
    except ValueError:
        return 0.0
    return 60.0 - now % 60.0


def row_ms(row) -> int:
    """A ccxt row's time: the first field of an OHLCV row, the `timestamp` of a structure (open interest, funding)."""
    return row["timestamp"] if isinstance(row, dict) else row[0]


def _excerpt(body: str, size: int = 80) -> str:
    """The start of an answer body on one line, quoted: enough to tell a JSON error from a firewall's page."""
    text = " ".join(body.split())
    return repr(text[:size] + ("..." if len(text) > size else "")) if text else "(empty)"


def _check_answer(raw, page: list, *, source: str, symbol: str, since: int) -> None:
    """A page is data only if the body was JSON and ccxt parsed every row of it."""
    if raw is None:
        raise BrokenAnswerError(f"{source} {symbol}: answer for since={since} is not JSON (garbled or truncated body)")
    if isinstance(raw, list) and len(raw) != len(page):
        raise BrokenAnswerError(
            f"{source} {symbol}: answer for since={since} has {len(raw)} rows but only {len(page)} parse as candles"
        )


def _within(requests: list[RequestRecord], start_ms: int, end_ms: int) -> list[RequestRecord]:
    """The requests as logged: each for its part of the window asked for, not the one candle on either side asked
    for as evidence only (`coverage` counts a logged window's minutes as asked for, and those are not stored)."""
    first, last = naive_utc(start_ms), naive_utc(end_ms)
    return [replace(r, window_start=max(r.window_start, first), window_end=max(min(r.window_end, last), first))
            for r in requests]
