"""Replay files: read exactly as recorded (holes, duplicates and odd values kept), refused only when not candles."""

import json

import pytest

from datafactory_assets.emulator.replay import load_replay
from datafactory_assets.emulator.server import Emulator
from datafactory_tests.emulator.helpers import BINANCE_SPOT, MINUTE, T0, ccxt_client


def recorded(skip=(), minutes=60):
    """A recorded hour with holes at `skip`; values vary per minute so that any shift would show."""
    return [
        [T0 + m * MINUTE, 10.0 + m / 100, 11.0 + m / 100, 9.0 + m / 100, 10.5 + m / 100, 4.12345 + m]
        for m in range(minutes)
        if m not in skip
    ]


def test_json_rows_come_back_exactly_sorted_with_holes_and_duplicates_kept(tmp_path):
    rows = recorded(skip={0, 13, 14, 42})
    shuffled = [rows[5], *rows[6:], rows[0], *rows[1:5], rows[20]]
    path = tmp_path / "alt.json"
    path.write_text(json.dumps(shuffled))
    frame = load_replay(path)
    assert frame.columns == ["open_ms", "open", "high", "low", "close", "volume"]
    assert [list(r) for r in frame.rows()] == sorted([*rows, rows[20]])


def test_numeric_strings_as_binance_records_them_are_accepted(tmp_path):
    path = tmp_path / "strings.json"
    path.write_text(json.dumps([[str(T0), "60000.12000000", "60001.00", "59999.5", "60000.5", "1.23400000"]]))
    assert load_replay(path).rows() == [(T0, 60000.12, 60001.0, 59999.5, 60000.5, 1.234)]


@pytest.mark.parametrize("header", [True, False])
def test_csv_with_or_without_header(tmp_path, header):
    rows = recorded(skip={3, 4})
    lines = [",".join(repr(v) for v in row) for row in rows]
    path = tmp_path / "alt.csv"
    path.write_text("\n".join((["open_ms,open,high,low,close,volume"] if header else []) + lines) + "\n")
    assert [list(r) for r in load_replay(path).rows()] == rows


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ("[[1, 2, 3]]", "row 1"),
        (json.dumps([[T0, 1, 1, 1, 1, 1], [T0, "x", 1, 1, 1, 1]]), "row 2"),
        (json.dumps([[T0 + 0.5, 1, 1, 1, 1, 1]]), "row 1"),
        (json.dumps([[-MINUTE, 1, 1, 1, 1, 1]]), "row 1"),
        (json.dumps([[T0, 1, 1, 1, 1, None]]), "row 1"),
        (json.dumps([[T0, True, 1, 1, 1, 1]]), "row 1"),
        (json.dumps([[T0, 1, 1, 1, 1, "nan"]]), "row 1"),
        ("[[1, 2, 3, 4, 5, 6]", "not valid JSON"),
        ('{"rows": []}', "JSON array"),
        ("open_ms,open,high,low,close,volume\n1,2,3,4,5,6\n7,8,9,ten,11,12\n", "line 3"),
        ("1,2,3,4,5\n", "line 1"),
        ("time,o,h,l,c,v\n1,2,3,4,5,6\n", "line 1"),
    ],
)
def test_malformed_content_names_the_file_and_the_row(tmp_path, content, where):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(ValueError, match=where) as info:
        load_replay(path)
    assert str(path) in str(info.value)


def test_the_emulator_serves_the_file_exactly_and_lists_the_symbol(tmp_path):
    rows = recorded(skip={0, 13, 14, 15, 42})
    rows[7] = [rows[7][0], 10.0, 9.5, 9.0, 10.5, -4.0]  # an impossible candle is served as recorded, too
    path = tmp_path / "alt.json"
    path.write_text(json.dumps(rows))
    with Emulator(replay={"ALT/BTC": path}, symbols=["BTC/USDT"]) as emu:
        client = ccxt_client("binance", emu.url, **BINANCE_SPOT)
        markets = client.load_markets()
        assert set(markets) == {"BTC/USDT", "ALT/BTC"} and markets["ALT/BTC"]["active"]
        assert client.fetch_ohlcv("ALT/BTC", "1m", since=T0, limit=1000) == rows
        assert client.fetch_ohlcv("ALT/BTC", "1m", since=T0 + 14 * MINUTE, limit=3) == rows[12:15]
        assert client.fetch_ohlcv("ALT/BTC", "1m", limit=2) == rows[-2:]
        until = client.fetch_ohlcv("ALT/BTC", "1m", since=T0, limit=1000, params={"until": T0 + 20 * MINUTE})
        assert until == [r for r in rows if r[0] <= T0 + 20 * MINUTE]


def test_a_replayed_default_symbol_is_served_from_the_file_only(tmp_path):
    rows = recorded(minutes=3)
    path = tmp_path / "btc.csv"
    path.write_text("\n".join(",".join(map(str, row)) for row in rows))
    with Emulator(replay={"BTC/USDT": path}) as emu:
        client = ccxt_client("binance", emu.url, **BINANCE_SPOT)
        client.load_markets()
        assert client.fetch_ohlcv("BTC/USDT", "1m", since=T0 - 10 * MINUTE, limit=1000) == rows
