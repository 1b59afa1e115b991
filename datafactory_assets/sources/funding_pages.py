"""A window of funding events from a ccxt venue, with the schedule around it that tells each event's interval.

Funding events come at the instrument's own interval, not on a timeframe grid, so they are paged by time: ask [from,
until] with the venue's row limit, and where a full page leaves part of the span unseen (Binance pages oldest first, OKX
and Bybit newest first: `NEWEST_FIRST`), ask that part next. The window is widened by `MARGIN` on both sides (clipped at
now): an hourly window holds at most one event, and the interval is read from the spacing of the events around it
(`datasets.funding_intervals`), so the answer must show two spacings on each side even at 8 hours. One Binance page
holds 1000 events, so the margin costs no request there; at OKX (100 a page) a day of 1 h events with its margins is one
page. Only the window's own part of each request is logged (`coverage` counts it as asked).

ccxt's `fetch_funding_rate_history(symbol, since, limit, params)` sends `until` as Binance's and Bybit's `endTime`;
OKX's takes only `before` from `since`, so our end goes as OKX's own exclusive `after` (`UNTIL`). With an answer
holding events, the venue's stated terms are read too (`funding_terms`: the interval in force now and the caps every
event is validated against).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import polars as pl

from datafactory_assets.datasets import Dataset
from datafactory_assets.sources.base import FetchResult, RequestRecord, epoch_ms, naive_utc, recorded, runner
from datafactory_assets.sources.funding_terms import stated_terms

MARGIN = timedelta(hours=24)
_HALF_HOUR_MS = 1_800_000  # events are an hour apart at least: a part of a span shorter than this holds none unseen
# Venues whose page of a span is its newest `limit` events (OKX and Bybit, as their docs say); Binance's is the
# oldest from `startTime`.
NEWEST_FIRST = frozenset({"okx", "bybit"})
# How a venue bounds a page's end, from the inclusive last millisecond wanted (default: ccxt's unified `until`).
UNTIL: dict[str, Callable[[int], dict]] = {"okx": lambda last: {"after": str(last + 1)}}


def fetch_funding_range(source, symbol: str, *, start: datetime, end: datetime, guard,
                        dataset: Dataset, check_answer: Callable, within: Callable) -> FetchResult:
    """The events of `dataset` with funding time (floored to the hour) in [start, end), oldest first, their
    intervals read from the answer around them; the answer vouches for the span from its first to its last event.
    `check_answer(raw, page, source=, symbol=, since=)` and `within(requests, start_ms, end_ms)` are the ccxt
    source's own checks of an answer and of the logged windows."""
    endpoint, run = dataset.endpoint(source.name), runner(guard)
    source._load_markets(symbol, run)
    now_ms = epoch_ms(datetime.now(UTC))
    start_ms, end_ms = epoch_ms(start), min(epoch_ms(end), now_ms)
    requests: list[RequestRecord] = []
    pending, rows = [(start_ms - _ms(MARGIN), min(end_ms + _ms(MARGIN), now_ms) - 1)], {}
    bound = UNTIL.get(source.name, lambda last: {"until": last})
    try:
        while pending:
            first, last = pending.pop()
            page = run(lambda a=first, b=last: _page(source, symbol, endpoint=endpoint, first=a, last=b,
                                                     bound=bound, requests=requests, check_answer=check_answer),
                       weight=endpoint.weight)
            rows.update((row["timestamp"], row) for row in page)
            if len(page) >= endpoint.limit:  # a full page: the part of the span beyond it is still to ask
                stamps = [row["timestamp"] for row in page]
                rest = (first, min(stamps) - 1) if source.name in NEWEST_FIRST else (max(stamps) + 1, last)
                pending += [rest] if rest[1] - rest[0] >= _HALF_HOUR_MS else []
    except Exception as exc:
        if hasattr(exc, "requests"):
            exc.requests = within(requests, start_ms, end_ms)
        raise
    terms = stated_terms(source, symbol, run) if rows else None
    answer = dataset.from_rows([rows[stamp] for stamp in sorted(rows)], symbol=symbol, source=source.name,
                               terms=terms)
    frame = answer.filter(pl.col("ts").is_between(naive_utc(start_ms), naive_utc(end_ms), closed="left"))
    vouched = [] if answer.is_empty() else [(answer["ts"].min(), answer["ts"].max())]
    return FetchResult(frame=frame.sort("ts"), requests=within(requests, start_ms, end_ms), vouched=vouched)


def _page(source, symbol: str, *, endpoint, first: int, last: int, bound: Callable, requests: list,
          check_answer: Callable) -> list[dict]:
    with recorded(requests, source=source.name, symbol=symbol, window_start=naive_utc(first),
                  window_end=naive_utc(last + 1)) as probe:
        source.exchange.last_json_response = None
        page = source._call(source.exchange.fetch_funding_rate_history, symbol, about=symbol, since=first,
                            limit=endpoint.limit, params={**endpoint.params, **bound(last)})
        page = [row for row in page if first <= row["timestamp"] <= last]
        probe.rows = len(page)
        check_answer(source.exchange.last_json_response, page, source=source.name, symbol=symbol, since=first)
    return page


def _ms(span: timedelta) -> int:
    return int(span.total_seconds() * 1000)
