"""The fast parse of Binance kline pages returns exactly what ccxt's own `parse_ohlcvs` returns, for every page.

Each test asks the installed ccxt itself for the expected rows (a second client without the fast parse), never a
copy of our expectation: real recorded answers, emulator pages through the real client, and malformed pages.
"""

import json
from datetime import UTC, datetime, timedelta

import ccxt
import pytest

from datafactory_assets.datasets import INDEX_CANDLES, MARK_CANDLES, PERP_CANDLES, PREMIUM_CANDLES, SPOT_CANDLES
from datafactory_assets.frames import candles_from_rows
from datafactory_assets.sources.base import SourceError
from datafactory_assets.sources.ccxt_source import CcxtCandleSource
from datafactory_assets.sources.kline_rows import install_fast_parse, kline_rows

START = datetime(2024, 3, 1, tzinfo=UTC)
SPOT, INVERSE = {"inverse": False}, {"inverse": True}

# ccxt's recorded real Binance answers: ccxt/ccxt ts/src/test/static/response/binance.json (commit 05776890e288),
# its three "fetchOHLCV" entries: (description, input [symbol, timeframe, since, limit], httpResponse, parsedResponse).
RECORDED = [
    ("Spot OHLCV with since and limit", SPOT, ("1h", 1706628191000, 3), [
        [1706630400000, "43519.34000000", "43936.00000000", "43171.00000000", "43488.71000000", "20.55495000",
         1706633999999, "891428.42858070", 3743, "10.91428000", "473782.95739920", "0"],
        [1706634000000, "43488.71000000", "43832.08000000", "43084.00000000", "43374.80000000", "21.80865000",
         1706637599999, "946546.04941680", 4365, "11.70274000", "508392.74777040", "0"],
        [1706637600000, "43374.81000000", "44048.00000000", "43062.00000000", "43361.11000000", "23.66547000",
         1706641199999, "1027527.77116170", 4063, "15.19718000", "660419.73275280", "0"]],
     [[1706630400000, 43519.34, 43936, 43171, 43488.71, 20.55495],
      [1706634000000, 43488.71, 43832.08, 43084, 43374.8, 21.80865],
      [1706637600000, 43374.81, 44048, 43062, 43361.11, 23.66547]]),
    ("inverse index price (BTC/USD:BTC)", INVERSE, ("1d", None, 3), [
        [1712534400000, "69362.49174406", "72740.01330078", "69076.81471239", "71625.41841177", "0", 1712620799999,
         "0", 86400, "0", "0", "0"],
        [1712620800000, "71628.33407436", "71739.77815692", "68230.05238367", "69135.87773144", "0", 1712707199999,
         "0", 86400, "0", "0", "0"],
        [1712707200000, "69136.23648785", "69565.97257021", "68482.85614772", "68921.79749600", "0", 1712793599999,
         "0", 31378, "0", "0", "0"]],
     [[1712534400000, 69362.49174406, 72740.01330078, 69076.81471239, 71625.41841177, 0],
      [1712620800000, 71628.33407436, 71739.77815692, 68230.05238367, 69135.87773144, 0],
      [1712707200000, 69136.23648785, 69565.97257021, 68482.85614772, 68921.797496, 0]]),
    ("swap ohlcv (BTC/USDT:USDT)", SPOT, ("1m", None, 3), [
        [1712738460000, "71481.90", "71481.90", "71481.90", "71481.90", "0.002", 1712738519999, "142.96380", 1,
         "0.002", "142.96380", "0"],
        [1712738520000, "71471.00", "71471.00", "70459.40", "70459.40", "0.120", 1712738579999, "8518.17600", 9,
         "0.061", "4359.72600", "0"],
        [1712738580000, "71470.70", "71470.90", "70459.40", "70459.40", "1.542", 1712738639999, "108661.55840", 8,
         "0.013", "929.12130", "0"]],
     [[1712738460000, 71481.9, 71481.9, 71481.9, 71481.9, 0.002],
      [1712738520000, 71471, 71471, 70459.4, 70459.4, 0.12],
      [1712738580000, 71470.7, 71470.9, 70459.4, 70459.4, 1.542]]),
]


def _row(ms, *values, width=12):
    """A kline row: open time, then `values` in place of open..volume and beyond, padded as Binance pads."""
    fields = [ms, *values]
    return fields + ["0"] * (width - len(fields))


GOOD = [_row(1_000_000 + 60_000 * i, "1.5", "2.5", "1.0", "2.0", f"{i}.25") for i in range(5)]
MALFORMED = {
    "None value": [GOOD[0], _row(1_060_000, None, "2.5", "1.0", "2.0", "3")],
    "empty string": [_row(1_000_000, "", "2.5", "1.0", "2.0", "3"), GOOD[1]],
    "abc": [_row(1_000_000, "1", "abc", "1.0", "2.0", "3")],
    "1e3 and other float() spellings": [_row(1_000_000, "1e3", " 2.5 ", "1_000", "nan", "-inf")],
    "ints": [_row(1_000_000, 1, 2, 1, 2, 3)],
    "floats": [_row(1_000_000, 1.5, 2.5, 1.0, 2.0, 0.1 + 0.2)],
    "an int beyond a float": [_row(1_000_000, "1", "2", "1", "2", 10**400)],
    "a bool value": [_row(1_000_000, True, "2", "1", "2", "3")],
    "a nested list value": [_row(1_000_000, ["1"], "2", "1", "2", "3")],
    "dict row": [GOOD[0], {"openTime": 1_060_000, "open": "1", "high": "2", "low": "1", "close": "2", "volume": "3"}],
    "short row": [GOOD[0], [1_060_000, "1", "2", "1"]],
    "row of six for an inverse market": [[1_000_000, "1", "2", "1", "2", "3"]],
    "unsorted page": [GOOD[3], GOOD[0], GOOD[4], GOOD[1], GOOD[2]],
    "duplicate times": [GOOD[0], GOOD[1], _row(1_060_000, "9", "9", "9", "9", "9"), GOOD[2]],
    "time as string": [_row("1000000", "1", "2", "1", "2", "3")],
    "time as float": [_row(1_000_000.7, "1", "2", "1", "2", "3")],
    "time None": [_row(None, "1", "2", "1", "2", "3"), GOOD[1]],
    "time 0": [_row(0, "1", "2", "1", "2", "3"), GOOD[1]],
    "time beyond 2**53": [_row(2**53 + 1, "1", "2", "1", "2", "3")],
    "time a bool": [_row(True, "1", "2", "1", "2", "3")],
    "empty page": [],
    "not a list": {"code": -1121, "msg": "Invalid symbol."},
    "None page": None,
    "well-formed": GOOD,
}
# (since, limit, tail): what fetch_ohlcv passes, and the edges of ccxt's filter_by_since_limit.
WINDOWS = [(None, None, False), (1_060_000, 1000, False), (1_120_000, 2, False), (None, 2, False),
           (1_060_000, 0, False), (0, None, False), (1_060_000, 2, True), (None, 3, True)]


def _clients(exchange_class=ccxt.binance):
    ours, theirs = exchange_class(), exchange_class()
    assert install_fast_parse(ours)
    return ours, theirs


def _outcome(parse, *args):
    """What a parse returns, or the error it raises (type and message)."""
    try:
        return parse(*args)
    except Exception as exc:  # the comparison is the point: any error ccxt raises must be raised the same
        return f"{type(exc).__name__}: {exc}"


def _same(a, b) -> bool:
    """Equal rows, NaN equal to NaN (ccxt's "nan" parses to a NaN, which == never matches)."""
    return json.dumps(a) == json.dumps(b)


@pytest.mark.parametrize(("description", "market", "call", "answer", "parsed"), RECORDED,
                         ids=[entry[0] for entry in RECORDED])
def test_recorded_binance_answers_parse_as_ccxt_parses_them(description, market, call, answer, parsed):
    ours, theirs = _clients()
    timeframe, since, limit = call
    assert kline_rows(answer, volume_at=7 if market["inverse"] else 5) is not None  # the fast path took them
    got = ours.parse_ohlcvs(answer, market, timeframe, since, limit)
    assert got == theirs.parse_ohlcvs(answer, market, timeframe, since, limit) == parsed


@pytest.mark.parametrize("exchange_class", [ccxt.binance, ccxt.binanceusdm])
@pytest.mark.parametrize("market", [SPOT, INVERSE], ids=["volume at 5", "inverse: volume at 7"])
@pytest.mark.parametrize("window", WINDOWS, ids=str)
@pytest.mark.parametrize("case", list(MALFORMED), ids=str)
def test_any_page_parses_as_ccxt_parses_it(case, window, market, exchange_class):
    ours, theirs = _clients(exchange_class)
    page = MALFORMED[case]
    got = _outcome(ours.parse_ohlcvs, json.loads(json.dumps(page)), market, "1m", *window)
    want = _outcome(theirs.parse_ohlcvs, json.loads(json.dumps(page)), market, "1m", *window)
    assert _same(got, want)
    if isinstance(want, str):
        return  # ccxt raised (a page that is a JSON object): so does ours, the same error
    frames = [candles_from_rows(rows, symbol="BTC/USDT", source="binance") for rows in (got, want)]
    assert frames[0].equals(frames[1], null_equal=True)


def test_only_clients_whose_rows_are_binance_klines_get_the_fast_parse():
    assert not install_fast_parse(ccxt.okx()) and not install_fast_parse(ccxt.bybit())
    decimals = ccxt.binance()
    decimals.number = str  # ccxt's own option to keep numbers as strings: its method, untouched
    assert not install_fast_parse(decimals)


def _fetch(emulator, source: CcxtCandleSource, *, fault: str | None, symbol: str, **window):
    """The frame and requests of a window, or the error and its requests (a duplicated page is a broken answer)."""
    emulator.clear_faults()
    if fault:
        emulator.add_fault(f"{source.exchange.id}:{fault}")
    try:
        result = source.fetch_range(symbol, **window)
    except SourceError as exc:
        return f"{type(exc).__name__}: {exc}", _logged(exc.requests)
    assert result.frame.height > 0
    return result.frame, _logged(result.requests)


def _logged(requests):
    return [(r.rows, r.outcome, r.error_class, r.window_start, r.window_end) for r in requests]


@pytest.mark.parametrize(("market", "symbol", "dataset"), [
    ("spot", "ETH/USDT", SPOT_CANDLES), ("swap", "BTC/USDT:USDT", PERP_CANDLES),
    ("swap", "BTC/USDT:USDT", MARK_CANDLES), ("swap", "BTC/USDT:USDT", INDEX_CANDLES),
    ("swap", "BTC/USDT:USDT", PREMIUM_CANDLES)], ids=["spot", "perp", "mark", "index", "premium"])
@pytest.mark.parametrize("fault", [None, "shuffle", "duplicates", "holes:0.2"])
def test_emulator_pages_through_the_real_client_give_todays_frame_and_requests(emulator, market, symbol, dataset,
                                                                               fault):
    window = {"symbol": symbol, "start": START, "end": START + timedelta(hours=20), "timeframe": "1m",
              "dataset": dataset, "fault": fault}
    ours = CcxtCandleSource("binance", market=market, emulator_url=emulator.url)
    fast, fast_requests = _fetch(emulator, ours, **window)
    assert kline_rows(ours.exchange.last_json_response, volume_at=5) is not None  # the fast path served the pages
    theirs = CcxtCandleSource("binance", market=market, emulator_url=emulator.url)
    del theirs.exchange.parse_ohlcvs  # ccxt's own method back: what the source did before
    ccxt_own, ccxt_requests = _fetch(emulator, theirs, **window)
    assert fast_requests == ccxt_requests and type(fast) is type(ccxt_own)
    assert fast == ccxt_own if isinstance(ccxt_own, str) else fast.equals(ccxt_own)
