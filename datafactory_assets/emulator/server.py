"""The exchange emulator: a local HTTP server speaking real venue dialects under `/{venue}/...`.

Clients keep the venue's real paths and only swap scheme and host for `{url}/{venue}`. The server is built to stay
out of the way of the client it serves (they share two cores in benchmarks): HTTP/1.1 keep-alive, no per-request
logging, vectorized pages, and an LRU of response bodies for pages that can never change.
"""

from __future__ import annotations

import json
import logging
import select
import signal
import socket
import struct
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from datafactory_assets.emulator.binance import BinanceVenue
from datafactory_assets.emulator.binance_archive import BinanceArchiveVenue
from datafactory_assets.emulator.binance_usdm import BinanceUsdmVenue
from datafactory_assets.emulator.budget import RateBudgets
from datafactory_assets.emulator.bybit import BybitVenue
from datafactory_assets.emulator.candles import DEFAULT_SYMBOLS
from datafactory_assets.emulator.coinbase import CoinbaseVenue
from datafactory_assets.emulator.coingecko import CoinGeckoVenue
from datafactory_assets.emulator.faults import FaultBook, Hangup, apply_fault
from datafactory_assets.emulator.kraken import KrakenVenue
from datafactory_assets.emulator.offsets import PriceOffsets, priced
from datafactory_assets.emulator.okx import OkxVenue
from datafactory_assets.emulator.replay import load_replay
from datafactory_assets.emulator.store import CANONICAL_SYMBOL, CandleStore
from datafactory_assets.emulator.venue import Request, Response, Venue, json_response
from datafactory_assets.emulator.yahoo import YahooVenue

logger = logging.getLogger(__name__)

VENUES: dict[str, type[Venue]] = {
    "binance": BinanceVenue,
    "binance_archive": BinanceArchiveVenue,
    "binanceusdm": BinanceUsdmVenue,
    "okx": OkxVenue,
    "bybit": BybitVenue,
    "yahoo": YahooVenue,
    "coingecko": CoinGeckoVenue,
    "kraken": KrakenVenue,
    "coinbase": CoinbaseVenue,
}
CONTROL_PREFIX = "/_emulator/"
CACHE_ENTRIES, CACHE_BYTES = 4096, 256 * 2**20
REQUEST_LOG_SIZE = 100_000


class Emulator:
    """One emulator instance: `with Emulator() as emu:` serves on `emu.url` in a background thread."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        replay: dict[str, str | Path] | None = None,
        faults: list[str] | None = None,
        symbols: Iterable[str] | None = None,
        budgets: Mapping[str, int | None] | None = None,
        budget_clock: Callable[[], float] = time.monotonic,
        price_offsets: Mapping[str, float] | None = None,
    ):
        """Binance lists a realistic market of a few hundred USDT pairs around the symbols, or only `symbols` when
        they are chosen.
        `budgets` enforces rate budgets, venue id -> amount in the venue's unit per its window (None: the real
        amount); `budget_clock` is their clock, which tests replace to cross windows and bans at once.
        `price_offsets` (venue id -> basis points) has those venues serve every price that far off."""
        store = CandleStore(
            DEFAULT_SYMBOLS if symbols is None else symbols,
            {symbol: load_replay(path) for symbol, path in (replay or {}).items()},
            realistic_market=symbols is None,
        )
        self._venues = {venue_id: cls(store) for venue_id, cls in VENUES.items()}
        self._faults = FaultBook(self._venues)
        for spec in faults or []:
            self._faults.add(spec)
        declared = {venue.id: venue.rate_budget for venue in self._venues.values()}
        self._budgets = RateBudgets(declared, clock=budget_clock)
        for venue_id, amount in (budgets or {}).items():
            self._budgets.set(venue_id, amount)
        self._offsets = PriceOffsets(self._venues)
        for venue_id, bps in (price_offsets or {}).items():
            self._offsets.set(venue_id, bps)
        self._cache = _BodyCache(max_entries=CACHE_ENTRIES, max_bytes=CACHE_BYTES)
        self._log: deque[dict] = deque(maxlen=REQUEST_LOG_SIZE)
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> Emulator:
        self._server = _Server(self._address, _Handler)
        self._server.emulator = self
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="emulator", daemon=True
        )
        self._thread.start()
        logger.info("emulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and drop kept-alive connections, so no client keeps talking to a stopped emulator."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def add_fault(self, spec: str) -> None:
        self._faults.add(spec)

    def clear_faults(self) -> None:
        self._faults.clear()

    def set_budget(self, venue: str, amount: int | None = None) -> None:
        """Enforce `venue`'s rate budget of `amount` (default: the real one) from now on, with a fresh window."""
        self._budgets.set(venue, amount)

    def clear_budgets(self, venue: str | None = None) -> None:
        self._budgets.clear(venue)

    def budgets(self) -> dict[str, dict]:
        """The enforced budgets: amount, window_s, used (in the window), bans so far and banned_for_s."""
        return self._budgets.active()

    def set_price_offset(self, venue: str, bps: float) -> None:
        """Serve `venue`'s prices `bps` basis points off from now on (0 removes the offset)."""
        self._offsets.set(venue, bps)

    def clear_price_offsets(self, venue: str | None = None) -> None:
        self._offsets.clear(venue)

    def price_offsets(self) -> dict[str, float]:
        return self._offsets.active()

    def request_log(self) -> list[dict]:
        """One dict per venue request: venue, method, path (the venue's own), query, status (None when a fault hung
        up without answering; 429/418 when a budget refused), fault, time."""
        return list(self._log)

    def clear_request_log(self) -> None:
        self._log.clear()

    def handle(self, method: str, target: str, body: bytes, *, origin: str | None = None,
               host: str | None = None) -> Response:
        """Answer one HTTP request; the socket-free core of the server. `origin` and `host` are the request's
        headers: a control request that changes something is refused when a browser sends it from another page."""
        url = urlsplit(target)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        if url.path.startswith(CONTROL_PREFIX):
            if method != "GET" and origin is not None and origin != f"http://{host}":
                return json_response(403, {"error": f"cross-origin {method} {url.path} from {origin} refused: only "
                                                    "this emulator's own pages, scripts and tools may change it"})
            return self._control(method, url.path[len(CONTROL_PREFIX) :], body)
        venue_id, _, local_path = url.path.lstrip("/").partition("/")
        request = Request(method=method, path="/" + local_path, query=query, now_ms=time.time_ns() // 1_000_000)
        venue = self._venues.get(venue_id)
        if venue is None:
            self._record(venue=venue_id or None, request=request, status=404, fault=None)
            return json_response(404, {"error": f"unknown venue {venue_id!r}", "venues": sorted(self._venues)})
        bps = self._offsets.get(venue.id)
        venue = priced(venue, bps)
        refusal = self._budgets.admit(venue.id, request.path)
        fault = self._faults.take(venue.id) if refusal is None and venue.is_data(request) else None
        if refusal is not None:
            response = refusal.answer(venue)
        elif fault is None:
            response = self._answer(venue, request, bps)
        else:
            try:
                response = apply_fault(fault, venue=venue, request=request)
            except Hangup:
                self._record(venue=venue.id, request=request, status=None, fault=fault.spec)
                raise
        headers = {**response.headers, **venue.usage_headers(request)}
        self._record(venue=venue.id, request=request, status=response.status, fault=fault and fault.spec)
        return Response(status=response.status, body=response.body, headers=headers)

    def _answer(self, venue: Venue, request: Request, bps: float) -> Response:
        key = (venue.id, bps, request.method, request.path, tuple(sorted(request.query.items())))
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        response = venue.respond(request)
        if response.cacheable:
            self._cache.put(key, response)
        return response

    def _record(self, *, venue: str | None, request: Request, status: int | None, fault: str | None) -> None:
        self._log.append({"venue": venue, "method": request.method, "path": request.path, "query": request.query,
                          "status": status, "fault": fault, "time": time.time()})

    def _control(self, method: str, name: str, body: bytes) -> Response:
        if (method, name) == ("GET", "health"):
            return json_response(200, {"ok": True})
        if (method, name) == ("GET", "faults"):
            return json_response(200, {"faults": self._faults.active()})
        if (method, name) == ("POST", "faults"):
            try:
                spec = json.loads(body or b"{}").get("spec")
                if not isinstance(spec, str):
                    raise ValueError('send a JSON object {"spec": "VENUE:KIND[:ARG][@COUNT]"}')
                self._faults.add(spec)
            except (ValueError, AttributeError) as exc:
                return json_response(400, {"error": str(exc)})
            return json_response(200, {"ok": True, "faults": self._faults.active()})
        if (method, name) == ("DELETE", "faults"):
            self._faults.clear()
            return json_response(200, {"ok": True})
        if name == "budgets":  # amount optional: the venue's real one
            return self._control_book(method, body, name=name, example='{"venue": "binance", "amount": 1200}',
                                      put=lambda order: self._budgets.set(order.get("venue"), order.get("amount")),
                                      clear=self._budgets.clear, show=self.budgets)
        if name == "offsets":
            return self._control_book(method, body, name=name, example='{"venue": "okx", "bps": 150}',
                                      put=lambda order: self._offsets.set(order.get("venue"), order.get("bps")),
                                      clear=self._offsets.clear, show=self.price_offsets)
        if (method, name) == ("GET", "requests"):
            return json_response(200, self.request_log())
        if (method, name) == ("DELETE", "requests"):
            self._log.clear()
            return json_response(200, {"ok": True})
        return json_response(404, {"error": f"no control endpoint {method} {CONTROL_PREFIX}{name}"})

    def _control_book(self, method: str, body: bytes, *, name: str, example: str, put: Callable[[dict], None],
                      clear: Callable[[str | None], None], show: Callable[[], dict]) -> Response:
        """One per-venue setting (budgets, offsets): GET shows it; POST `put`s a JSON object such as `example`;
        DELETE clears it for {"venue"} or for all."""
        if method == "GET":
            return json_response(200, {name: show()})
        if method not in ("POST", "DELETE"):
            return json_response(404, {"error": f"no control endpoint {method} {CONTROL_PREFIX}{name}"})
        try:
            order = json.loads(body or b"{}")
            if not isinstance(order, dict):
                raise ValueError(f"send a JSON object {example}")
            if method == "POST":
                put(order)
            else:
                clear(order.get("venue"))
        except ValueError as exc:
            return json_response(400, {"error": str(exc)})
        return json_response(200, {"ok": True, name: show()})


def serve(
    host: str,
    port: int,
    replay: dict[str, str | Path] | None,
    faults: list[str] | None,
    budgets: Mapping[str, int | None] | None = None,
    price_offsets: Mapping[str, float] | None = None,
) -> None:
    """Run an emulator in the foreground (the CLI) until SIGINT or SIGTERM."""
    stopping = threading.Event()
    with Emulator(host=host, port=port, replay=replay, faults=faults, budgets=budgets,
                  price_offsets=price_offsets) as emu:
        print(f"emulator listening on {emu.url}", flush=True)
        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not stopping.wait(0.5):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def parse_replay_arg(text: str) -> tuple[str, Path]:
    """`BTC/USDT=recorded.json` -> ("BTC/USDT", Path("recorded.json")), the CLI's `--replay` value."""
    symbol, sep, path = text.partition("=")
    symbol = symbol.strip()
    if not sep or not path.strip() or not CANONICAL_SYMBOL.match(symbol):
        raise ValueError(f"bad replay {text!r}: write SYMBOL=FILE with a canonical symbol, e.g. BTC/USDT=btc.json")
    return symbol, Path(path.strip())


class _BodyCache:
    """LRU of immutable responses, bounded by entries and by bytes (a 1000-candle page is ~150 kB)."""

    def __init__(self, *, max_entries: int, max_bytes: int):
        self._entries: OrderedDict[tuple, Response] = OrderedDict()
        self._max_entries, self._max_bytes, self._bytes = max_entries, max_bytes, 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Response | None:
        with self._lock:
            response = self._entries.get(key)
            if response is not None:
                self._entries.move_to_end(key)
            return response

    def put(self, key: tuple, response: Response) -> None:
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = response
            self._bytes += len(response.body)
            while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted.body)


class _Server(ThreadingHTTPServer):
    """Tracks open connections so that `stop()` can close kept-alive ones."""

    daemon_threads = True
    emulator: Emulator

    def __init__(self, address, handler):
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up mid-answer (a timeout, a reset) is normal here, not worth a traceback."""
        logger.debug("connection from %s ended abruptly", client_address, exc_info=True)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: ccxt's requests session reuses the connection
    disable_nagle_algorithm = True  # headers and body go out in two writes; don't let the body wait for an ACK
    timeout = 300  # an idle kept-alive connection is dropped after this many seconds
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            response = self.server.emulator.handle(self.command, self.path, body, origin=self.headers.get("Origin"),
                                                   host=self.headers.get("Host"))
        except Hangup as hangup:
            self._hang_up(hangup)
            return
        except Exception as exc:  # an emulator bug must read as a clear 500, not as a dropped connection
            logger.exception("emulator failed on %s %s", self.command, self.path)
            response = json_response(500, {"error": f"emulator bug: {type(exc).__name__}: {exc}"})
        self.send_response(response.status)
        for name, value in {"Content-Type": "application/json", **response.headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def _hang_up(self, hangup: Hangup) -> None:
        """Answer nothing: hold the connection (until the client gives up, at most `after_s`), then close it."""
        self.close_connection = True
        deadline = time.monotonic() + hangup.after_s
        try:
            while (left := deadline - time.monotonic()) > 0:
                if select.select([self.connection], [], [], left)[0]:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        break  # the client closed its end
                    time.sleep(left)  # it sent more (pipelining): that waits too
        except OSError:
            return  # the client reset the connection
        if hangup.abrupt:  # a zero linger makes the close a TCP reset; it happens once rfile lets go of the socket
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.rfile.close()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's signature
        logger.debug(format, *args)
