"""CoinGecko's price history as an independent reference for accuracy checks (not a candle source).

`/coins/{id}/market_chart/range` answers price points, each the price at its instant (not on candle closes), at an
automatic granularity: 5-minutely for a span of at most a day ending now, hourly for any other span up to 90 days
(a past hour too), daily beyond (docs.coingecko.com, "1 day from any time (except current time) = hourly data"). The
reference asks at most 90 days per request so that points are never coarser than hourly, and asks a window that
starts within the last day up to now, so that the hour a run just collected gets twelve points, not one. It speaks
plain HTTP through `requests`; the demo plan's key goes in the `x-cg-demo-api-key` header, which never appears in a
message or a record. USDT pairs are priced in USD (CoinGecko's `usd`), other quotes in their own currency.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime

import polars as pl
import requests

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
)
from datafactory_assets.sources.transport import EmulatorSession

API = "https://api.coingecko.com/api/v3"
COIN_IDS: dict[str, str] = {
    "BTC": "bitcoin",
    "ETH": "ethereum",
    "SOL": "solana",
    "ADA": "cardano",
    "BNB": "binancecoin",
    "XRP": "ripple",
    "DOGE": "dogecoin",
}
MAX_IDS = 250  # coins/markets answers at most this many ids per request (docs.coingecko.com, coins-markets)
MAX_SPAN_S = 90 * 86_400  # the longest span CoinGecko still answers hourly
FIVE_MINUTELY_SPAN_S = 86_400 - 60  # a span ending now up to a day long is answered 5-minutely (a minute's margin)
PRICE_SCHEMA = {"ts": pl.Datetime("us"), "price": pl.Float64()}


def vs_currency(quote: str) -> str:
    """The CoinGecko currency a quote is priced in: USD for USDT, the quote itself otherwise."""
    return "usd" if quote == "USDT" else quote.lower()


class CoinGeckoReference:
    """Prices of a canonical symbol's base coin over a window; `emulator_url` is its only test switch."""

    name = "coingecko"

    def __init__(self, *, emulator_url: str | None = None, api_key: str | None = None, timeout_s: float = 10,
                 coin_ids: Mapping[str, str] | None = None):
        """`coin_ids`: base -> CoinGecko id, as resolved into the universe file; the bases of `COIN_IDS` are known
        without it."""
        self.coin_ids = {**(coin_ids or {}), **COIN_IDS}
        self.session = (EmulatorSession(base_url=emulator_url, venue=self.name) if emulator_url
                        else requests.Session())
        if api_key:
            self.session.headers["x-cg-demo-api-key"] = api_key
        self.timeout_s = timeout_s

    def coin_id(self, symbol: str) -> str:
        """`BTC/USDT` -> `bitcoin`; a base without a known id is a permanent error, asked nothing."""
        base = symbol.split("/")[0]
        if base not in self.coin_ids:
            raise SourceError(f"no CoinGecko id for {symbol} (`datafactory universe --refresh` resolves those of a "
                              "[universe]'s coins CoinGecko tells apart)", kind=ErrorKind.PERMANENT)
        return self.coin_ids[base]

    def prices(self, symbol: str, *, start: datetime, end: datetime, guard=None) -> pl.DataFrame:
        """The price points with instants in [start, end]: `ts` (naive UTC, datetime[us]) and `price` (f64)."""
        return self.fetch_prices(symbol, start=start, end=end, guard=guard).frame

    def fetch_prices(self, symbol: str, *, start: datetime, end: datetime, guard=None) -> FetchResult:
        """`prices` with the requests they took; each request goes through `guard.run` when given.

        Raises `SourceError` (with the requests made so far) classified from CoinGecko's answer, and
        `BrokenAnswerError` when an answer is not price data.
        """
        coin = self.coin_id(symbol)
        currency = vs_currency(symbol.split("/")[1])
        run = runner(guard)
        start_s, end_s = epoch_ms(start) // 1000, epoch_ms(end) // 1000
        now_s = time.time_ns() // 1_000_000_000
        asked_until = now_s if now_s - start_s <= FIVE_MINUTELY_SPAN_S else end_s  # recent: 5-minutely points
        requests_made: list[RequestRecord] = []
        frames = [pl.DataFrame(schema=PRICE_SCHEMA)]
        try:
            for since in range(start_s, end_s, MAX_SPAN_S):
                frames.append(run(lambda a=since, b=min(since + MAX_SPAN_S, asked_until): self._chart(
                    symbol, coin, currency, start_s=a, end_s=b, requests_made=requests_made)))
        except SourceError as exc:
            exc.requests = requests_made
            raise
        window = (naive_utc(start_s * 1000), naive_utc(end_s * 1000))
        frame = pl.concat(frames).filter(pl.col("ts").is_between(*window))
        return FetchResult(frame=frame.unique(subset="ts", keep="first").sort("ts"), requests=requests_made)

    def _chart(self, symbol: str, coin: str, currency: str, *, start_s: int, end_s: int,
               requests_made: list[RequestRecord]) -> pl.DataFrame:
        """One market_chart/range request, recorded whatever happens."""
        with recorded(requests_made, source=self.name, symbol=symbol, window_start=naive_utc(start_s * 1000),
                      window_end=naive_utc(end_s * 1000)) as probe:
            frame = self._get(coin, currency, start_s=start_s, end_s=end_s)
            probe.rows = frame.height
        return frame

    def _get(self, coin: str, currency: str, *, start_s: int, end_s: int) -> pl.DataFrame:
        first, last = naive_utc(start_s * 1000), naive_utc(end_s * 1000)
        where = f"{self.name} {coin}/{currency} {first:%Y-%m-%d %H:%M}..{last:%Y-%m-%d %H:%M}"
        answer = self._answer(f"/coins/{coin}/market_chart/range", where=where,
                              params={"vs_currency": currency, "from": start_s, "to": end_s})
        # numpy is imported here, not at the top: only a run whose accuracy check asks CoinGecko needs it, and every
        # process that loads the code location (webserver, daemon, each run worker) would pay 0.1 CPU-s for it
        import numpy as np

        try:
            points = np.asarray(answer["prices"], dtype=np.float64).reshape(-1, 2)
        except (ValueError, KeyError, TypeError) as exc:
            raise BrokenAnswerError(f"{where}: HTTP 200 but no price points: {type(exc).__name__}: {exc}") from exc
        return pl.DataFrame({
            "ts": pl.Series(points[:, 0].astype(np.int64)).cast(pl.Datetime("ms")).cast(pl.Datetime("us")),
            "price": points[:, 1],
        })

    def coins_list(self) -> list[dict]:
        """Every coin CoinGecko lists, as `{"id", "symbol", "name"}` (symbols in lower case, not unique)."""
        return self._listed(self._answer("/coins/list", where=f"{self.name} coins/list", params={}), "/coins/list")

    def coin_markets(self, ids: list[str], *, currency: str) -> list[dict]:
        """Market data now (`current_price`, `market_cap`, ...) of the coins `ids`, at most `MAX_IDS` of them; an id
        CoinGecko does not know is left out of the answer."""
        return self._listed(self._answer("/coins/markets", where=f"{self.name} coins/markets", params={
            "vs_currency": currency, "ids": ",".join(ids), "per_page": MAX_IDS}), "/coins/markets")

    def _answer(self, path: str, *, where: str, params: dict):
        """The JSON of one GET, or a `SourceError` classified from CoinGecko's answer."""
        try:
            answer = self.session.get(f"{API}{path}", timeout=self.timeout_s, params=params)
        except requests.RequestException as exc:
            raise SourceError(f"{where}: {type(exc).__name__}: {exc}", kind=ErrorKind.TRANSIENT) from exc
        try:
            answer.raise_for_status()
        except requests.HTTPError as exc:
            raise SourceError(f"{where}: HTTP {answer.status_code}: {_error_message(answer)}",
                              kind=status_kind(answer.status_code),
                              retry_after_s=retry_after_s(answer.headers)) from exc
        try:
            return answer.json()
        except ValueError as exc:
            raise BrokenAnswerError(f"{where}: HTTP {answer.status_code} but not JSON: {answer.text[:100]!r}") from exc

    def _listed(self, answer, path: str) -> list[dict]:
        if not isinstance(answer, list) or not all(isinstance(row, dict) and "id" in row for row in answer):
            raise BrokenAnswerError(f"{self.name} {path}: HTTP 200 but not a list of coins: {str(answer)[:100]}")
        return answer


def _error_message(answer: requests.Response) -> str:
    """CoinGecko's own words: `{"error": msg}`, or `{"status": {...}}` / `{"error": {"status": {...}}}` for limits."""
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:200]
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        status = error.get("status", error)
        if isinstance(status, dict) and "error_message" in status:
            return f"{status['error_message']} (error {status.get('error_code')})"
    return str(error)
