"""CoinGecko's public (demo plan) API: ping, market_chart/range (the accuracy reference), and coins/list and
coins/markets (which coin a venue's base symbol is, resolved by `datafactory universe --refresh`).

Granularity is CoinGecko's automatic one: "1 day from current time = 5-minutely data; 1 day from any time (except
current time) = hourly data; 2 - 90 days from any time = hourly data; above 90 days from any time = daily data
(00:00 UTC)" (docs.coingecko.com, Coin Historical Chart Data within Time Range by ID, and the changelog of 9 January
2025). "From current time" is read here as `to` no earlier than a minute before now.

Points are not on candle closes. The docs' recorded answers stamp hourly points 41 to 48 s past the hour
(1704067241331, 1704070847420, 1704074443652) and 5-minutely ones a fraction of a second before the 5-minute mark
(1779027899041, 1779028199661); daily ones are at 00:00 UTC exactly (1711843200000). The emulator stamps its points
the same way, each from a fixed hash of its mark, and a point carries the price at its instant: inside a 1-minute
candle of the coin's USDT pair that is the straight line between the candle's open and close (so always inside the
candle's range), at a minute mark the candle's open. The demo plan's limits are modelled: only the past
`history_days` are served (HTTP 401, error 10012, beyond), and its 30 calls per minute are the venue's `rate_budget`,
which the server enforces when asked (`Emulator(budgets={"coingecko": None})` or `set_budget`).

The coins are `coingecko_coins.coin_directory` over the store's listing. `/coins/list` answers every coin as
`{"id", "symbol", "name"}` with the symbol in lower case, in one unpaginated array ("There is no pagination required
for this endpoint", docs.coingecko.com/v3.0.1/reference/coins-list; the docs' example: `{"id": "0chain", "symbol":
"zcn", "name": "Zus"}`). `/coins/markets` answers the coins named by `ids` (comma-separated, "Maximum of 250 IDs per
request"; `vs_currency` required; `per_page` 1 to 250, default 100; `page`; ordered by `market_cap_desc` by default,
docs.coingecko.com/demo/reference/coins-markets), each with the fields of the docs' example (`id`, `symbol`, `name`,
`image`, `current_price`, `market_cap`, `market_cap_rank`, `fully_diluted_valuation`, `total_volume`, `high_24h`,
`low_24h`, `price_change_24h`, `price_change_percentage_24h`, `circulating_supply`, `total_supply`, `max_supply`,
`last_updated`); an id it does not know is left out, as CoinGecko leaves it out.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import numpy as np
import polars as pl

from datafactory_assets.emulator.candles import unit_hash
from datafactory_assets.emulator.coingecko_coins import Coin, coin_directory
from datafactory_assets.emulator.encode import json_rows
from datafactory_assets.emulator.venue import RateBudget, Request, Response, Venue, json_response

MINUTE_MS, HOUR_MS, DAY_MS = 60_000, 3_600_000, 86_400_000
MAX_IDS = 250  # coins/markets: ids per request, and the largest page
_CHART = re.compile(r"^/api/v3/coins/([^/]+)/market_chart/range$")
_NUMBER = re.compile(r"^[0-9]{1,12}(\.[0-9]*)?$")
_ISO_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M")
_STAMP_SALT = np.uint64(0xC0FFEE)
_RATE_LIMITED = ("You've exceeded the Rate Limit. Please visit https://www.coingecko.com/en/api/pricing to subscribe "
                 "to our API plans for higher rate limits.")


class BadParameter(Exception):
    """A request CoinGecko refuses with its flat `{"error": ...}` body."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def granularity_ms(*, from_ms: int, to_ms: int, now_ms: int) -> int:
    """CoinGecko's automatic granularity: 5-minutely for a span of at most a day ending now, hourly for other spans up
    to 90 days, daily (00:00 UTC points) above."""
    span = to_ms - from_ms
    if span <= DAY_MS and to_ms >= now_ms - MINUTE_MS:
        return 5 * MINUTE_MS
    return HOUR_MS if span <= 90 * DAY_MS else DAY_MS


def point_times(marks: np.ndarray, step: int) -> np.ndarray:
    """When CoinGecko stamps the point of each mark (a multiple of `step`): 0.3 to 1 s before a 5-minute mark, 40 to
    48 s after an hour, at a day's 00:00 itself."""
    if step == DAY_MS:
        return marks
    jitter = unit_hash(marks.astype(np.uint64) + _STAMP_SALT)
    offset = -300 - 700 * jitter if step < HOUR_MS else 40_000 + 8_000 * jitter
    return marks + offset.astype(np.int64)


class CoinGeckoVenue(Venue):
    """`/api/v3/ping`, `/api/v3/coins/list`, `/api/v3/coins/markets` and `/api/v3/coins/{id}/market_chart/range`
    (vs_currency=usd)."""

    id = "coingecko"
    rate_budget = RateBudget(amount=30, window_s=60.0)  # the demo plan: 30 calls a minute, any endpoint
    history_days: int | None = 365  # the demo plan's depth; None serves everything, as a paid plan does

    def __init__(self, store):
        super().__init__(store)
        self._coins = {coin.id: coin for coin in coin_directory(store.listing)}

    def respond(self, request: Request) -> Response:
        if request.method != "GET":
            return json_response(404, {"error": "Incorrect path. Please check https://www.coingecko.com/api/"})
        if request.path == "/api/v3/ping":
            return json_response(200, {"gecko_says": "(V3) To the Moon!"})
        if request.path == "/api/v3/coins/list":
            return json_response(200, [{"id": c.id, "symbol": c.symbol, "name": c.name} for c in self._coins.values()])
        match = _CHART.match(request.path)
        try:
            if request.path == "/api/v3/coins/markets":
                return self._markets(request)
            if match is None:
                return json_response(404, {"error": "Incorrect path. Please check https://www.coingecko.com/api/"})
            return self._market_chart(match[1], request)
        except BadParameter as exc:
            return json_response(exc.status, {"error": str(exc)})

    def is_data(self, request: Request) -> bool:
        return _CHART.match(request.path) is not None

    def error(self, status: int, message: str) -> Response:
        if status == 429:  # CoinGecko's throttle answer always says the same
            return json_response(429, {"status": {"error_code": 429, "error_message": _RATE_LIMITED}})
        return json_response(status, {"error": message})

    def empty(self) -> Response:
        return json_response(200, {"prices": [], "market_caps": [], "total_volumes": []})

    def _markets(self, request: Request) -> Response:
        """The coins named by `ids` with their market data now, largest market cap first, one page of them."""
        _usd(request.query)
        ids = [i for i in request.query.get("ids", "").split(",") if i]
        if len(ids) > MAX_IDS:
            raise BadParameter(400, f"The maximum number of ids per request is {MAX_IDS}")
        per_page, page = _integer(request.query, "per_page", 100), _integer(request.query, "page", 1)
        if not 1 <= per_page <= MAX_IDS or page < 1:
            raise BadParameter(400, "invalid per_page or page")
        caps = {coin.id: self._now_price(coin, request.now_ms) * coin.supply for coin in self._coins.values()}
        rank = {coin_id: place for place, coin_id in enumerate(sorted(caps, key=caps.get, reverse=True), start=1)}
        named = sorted((self._coins[i] for i in dict.fromkeys(ids) if i in self._coins), key=lambda c: rank[c.id])
        return json_response(200, [self._market_row(coin, rank[coin.id], request.now_ms)
                                   for coin in named[(page - 1) * per_page: page * per_page]])

    def _market_row(self, coin: Coin, rank: int, now_ms: int) -> dict:
        day = self.store.page(coin.pair, timeframe_ms=HOUR_MS, start_ms=now_ms - DAY_MS, end_ms=now_ms, limit=25,
                              now_ms=now_ms).frame
        price = self._now_price(coin, now_ms)
        if day.is_empty():  # a recorded pair may hold no candle in the last day
            day = pl.DataFrame({"open": [price], "high": [price], "low": [price], "volume": [0.0]})
        first = float(day["open"][0]) * coin.price_factor
        return {
            "id": coin.id, "symbol": coin.symbol, "name": coin.name,
            "image": f"https://coin-images.coingecko.com/coins/images/1/large/{coin.id}.png",
            "current_price": price, "market_cap": round(price * coin.supply), "market_cap_rank": rank,
            "fully_diluted_valuation": round(price * coin.supply), "total_volume": round(
                float(day["volume"].sum()) * price),
            "high_24h": float(day["high"].max()) * coin.price_factor,
            "low_24h": float(day["low"].min()) * coin.price_factor,
            "price_change_24h": price - first, "price_change_percentage_24h": round((price / first - 1) * 100, 5),
            "circulating_supply": coin.supply, "total_supply": coin.supply, "max_supply": None,
            "last_updated": datetime.fromtimestamp(now_ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
        }

    def _now_price(self, coin: Coin, now_ms: int) -> float:
        """The coin's price now: its pair's last 1-minute close, times its factor."""
        last = self.store.page(coin.pair, timeframe_ms=MINUTE_MS, start_ms=None, end_ms=None, limit=1,
                               now_ms=now_ms).frame
        return round(float(last["close"][0]) * coin.price_factor, 8)

    def _market_chart(self, coin_id: str, request: Request) -> Response:
        coin = self._coins.get(coin_id)
        if coin is None:
            raise BadParameter(404, "coin not found")
        query = request.query
        _usd(query)
        from_ms, to_ms = _instant_ms(query, "from"), _instant_ms(query, "to")
        if self.history_days is not None and from_ms < request.now_ms - self.history_days * DAY_MS:
            return _beyond_history(self.history_days, request.now_ms)
        interval = query.get("interval", "")
        if interval not in ("", "daily"):
            raise BadParameter(400, f"invalid interval {interval!r}: without an Enterprise plan, leave it empty "
                                    "(automatic granularity) or use daily")
        step = DAY_MS if interval == "daily" else granularity_ms(from_ms=from_ms, to_ms=to_ms, now_ms=request.now_ms)
        last = min(to_ms, request.now_ms)
        marks = np.arange(from_ms // step * step, last // step * step + 2 * step, step, dtype=np.int64)
        times = point_times(marks, step)
        times = times[(times >= from_ms) & (times <= last)]
        if not times.size:
            return self.empty()
        page = self.store.page(coin.pair, timeframe_ms=MINUTE_MS, start_ms=int(times[0]) // MINUTE_MS * MINUTE_MS,
                               end_ms=int(times[-1]), limit=int(times[-1] - times[0]) // MINUTE_MS + 2,
                               now_ms=request.now_ms) if step < DAY_MS else None
        price, minute_volume = self._prices(coin.pair, times, page, now_ms=request.now_ms)
        price = np.round(price * coin.price_factor, 8)
        day_volume = np.round(minute_volume * price * (DAY_MS / MINUTE_MS), 2)  # USD volume at a 24-hour pace
        series = {"prices": price, "market_caps": np.round(price * coin.supply, 2), "total_volumes": day_volume}
        body = b",".join(f'"{name}":'.encode() + json_rows([b"[", times, b",", values, b"]"])
                         for name, values in series.items())
        # 5-minutely answers end now, and an answer reaching now grows: only past hourly and daily ones are final.
        final = last < request.now_ms - step and (page is None or page.final)
        return Response(status=200, body=b"{" + body + b"}", cacheable=final)

    def _prices(self, symbol: str, times: np.ndarray, page, *, now_ms: int) -> tuple[np.ndarray, np.ndarray]:
        """The price at each instant and the 1-minute volume around it: on the line from the open to the close of the
        1-minute candle holding the instant (`page`), or, for daily points at 00:00, the open of the day."""
        if page is None:
            days = self.store.page(symbol, timeframe_ms=DAY_MS, start_ms=int(times[0]), end_ms=int(times[-1]),
                                   limit=len(times), now_ms=now_ms).frame
            return days["open"].to_numpy(), days["volume"].to_numpy() / (DAY_MS / MINUTE_MS)
        frame = page.frame
        row = np.searchsorted(frame["open_ms"].to_numpy(), times // MINUTE_MS * MINUTE_MS)
        open_, close = frame["open"].to_numpy()[row], frame["close"].to_numpy()[row]
        fraction = (times % MINUTE_MS) / MINUTE_MS
        return np.round(open_ + (close - open_) * fraction, 8), frame["volume"].to_numpy()[row]


def _usd(query: dict[str, str]) -> None:
    """`vs_currency` is required; the emulator prices in USD only."""
    if "vs_currency" not in query:
        raise BadParameter(400, "Missing parameter vs_currency")
    if query["vs_currency"].lower() != "usd":
        raise BadParameter(400, "invalid vs_currency")


def _integer(query: dict[str, str], name: str, default: int) -> int:
    try:
        return int(query.get(name, default))
    except ValueError:
        raise BadParameter(400, f"invalid {name}") from None


def _instant_ms(query: dict[str, str], name: str) -> int:
    """`from`/`to` as UNIX seconds (fractions allowed) or an ISO date `YYYY-MM-DD[THH:MM]` in UTC."""
    value = query.get(name)
    if value is None:
        raise BadParameter(400, f"Missing parameter {name}")
    if _NUMBER.match(value):
        return int(float(value) * 1000)
    for fmt in _ISO_FORMATS:
        try:
            return int(datetime.strptime(value, fmt).replace(tzinfo=UTC).timestamp() * 1000)
        except ValueError:
            pass
    raise BadParameter(400, f"invalid {name} date: use a UNIX timestamp or YYYY-MM-DD")


def _beyond_history(days: int, now_ms: int) -> Response:
    """The demo plan's refusal of old data: HTTP 401, with the nested error shape CoinGecko uses for plan limits."""
    stamp = datetime.fromtimestamp(now_ms / 1000, UTC).isoformat(timespec="milliseconds")
    message = (f"Your request exceeds the allowed time range. Public API users are limited to querying historical "
               f"data within the past {days} days.")
    return json_response(401, {"error": {"status": {"timestamp": stamp, "error_code": 10012,
                                                    "error_message": message}}})
