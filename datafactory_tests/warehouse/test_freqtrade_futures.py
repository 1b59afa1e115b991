"""The round trip of freqtrade's futures layout: perpetual, mark and funding data stored through the real ingest path
(ccxt's binanceusdm against the emulator, a real DuckDB file), exported, then read back two ways: by freqtrade's own
data loader in its own environment (`.venv-freqtrade`, `make freqtrade`; skipped with the reason where it is absent)
and, always, by the layout freqtrade documents in its source (paths, columns, types). Either must give back exactly
what was stored, for every candle type the export writes: futures, mark, index, premiumIndex and funding_rate.
ETH/USDT:USDT's funding interval changes from 8h to 4h inside the window."""

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow.feather
import pytest

from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.datasets import (DATASETS, FUNDING_RATES, INDEX_CANDLES, MARK_CANDLES, PERP_CANDLES,
                                         PREMIUM_CANDLES)
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse import WarehouseResource
from datafactory_assets.warehouse.export import EmptyExportError
from datafactory_assets.warehouse.freqtrade_futures import export_futures, pair_filename, plan
from datafactory_tests.helpers import symbol_settings

START = datetime(2025, 1, 14, tzinfo=UTC)  # ETH/USDT:USDT funds every 8h until 2025-01-15, every 4h after
END = START + timedelta(days=2)
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT")
ROOT = Path(__file__).resolve().parents[2]
FREQTRADE_PYTHON = Path(os.environ.get("DATAFACTORY_FREQTRADE_PYTHON", ROOT / ".venv-freqtrade" / "bin" / "python"))
LOADER = Path(__file__).with_name("freqtrade_load.py")
OHLCV = ["open", "high", "low", "close", "volume"]
PRICE_TYPES = {"index": "index_candles", "premiumIndex": "premium_candles"}  # freqtrade's candle type -> our dataset


@pytest.fixture(scope="module")
def filled(tmp_path_factory, emulator_session) -> WarehouseResource:
    """Both perpetuals' trade, mark, index and premium-index candles and funding events over [START, END),
    ingested once."""
    warehouse = WarehouseResource(path=str(tmp_path_factory.mktemp("futures") / "warehouse.duckdb"))
    sources = SourcesResource(emulator_url=emulator_session.url)
    for symbol in SYMBOLS:
        for dataset in (PERP_CANDLES, MARK_CANDLES, INDEX_CANDLES, PREMIUM_CANDLES, FUNDING_RATES):
            ingest_window(symbol_settings(symbol, start=START), start=START, end=END, sources=sources,
                          warehouse=warehouse, dataset=dataset)
    return warehouse


@pytest.fixture
def conn(filled):
    with filled.connect(read_only=True) as connection:
        yield connection


def stored(conn, relation: str, symbol: str, columns: list[str]) -> dict[str, list]:
    """What the warehouse holds (or serves, for a rollup view), column by column, dates in epoch ms."""
    frame = conn.sql(f"SELECT epoch_ms(ts) AS date, {', '.join(columns)} FROM {relation} WHERE symbol = ? "
                     "ORDER BY ts", params=[symbol]).pl()
    return frame.to_dict(as_series=False)


def expected(conn, symbol: str) -> dict[tuple[str, str], dict[str, list]]:
    """Per (candle type, timeframe) of the default export at 1m and 1h and of the index and premiumIndex export at
    1m and 1h, the stored rows freqtrade must read."""
    funding = stored(conn, "all_funding_rates", symbol, ["rate"])
    return {
        ("futures", "1m"): stored(conn, "all_perp_candles", symbol, OHLCV),
        ("futures", "1h"): stored(conn, "perp_candles_1h", symbol, OHLCV),
        ("mark", "1h"): stored(conn, "mark_candles_1h", symbol, OHLCV),
        ("funding_rate", "1h"): {"date": funding["date"], "funding_rate": funding["rate"]},
        **{(candle_type, timeframe): stored(conn, view, symbol, OHLCV) for candle_type, table in PRICE_TYPES.items()
           for timeframe, view in (("1m", f"all_{table}"), ("1h", f"{table}_1h"))},
    }


def test_the_files_are_where_freqtrade_looks_with_its_columns_and_types(conn, tmp_path):
    """The documented layout, checked without freqtrade: always runs."""
    datadir = tmp_path / "binance"
    written = export_futures(conn, symbol="BTC/USDT:USDT", datadir=datadir, start=None, end=None)
    assert sorted(str(p.relative_to(datadir)) for p in datadir.rglob("*")) == [
        "futures", "futures/BTC_USDT_USDT-1h-funding_rate.feather", "futures/BTC_USDT_USDT-1h-mark.feather",
        "futures/BTC_USDT_USDT-1m-futures.feather"]
    assert {(w.candle_type, w.timeframe): w.rows for w in written} == {
        ("futures", "1m"): 2880, ("mark", "1h"): 48, ("funding_rate", "1h"): 6}
    want = expected(conn, "BTC/USDT:USDT")
    for w in written:
        table = pyarrow.feather.read_table(w.path)
        assert str(table.schema.field("date").type) == "timestamp[ms, tz=UTC]"
        frame = pl.from_arrow(table).with_columns(pl.col("date").dt.epoch("ms"))
        assert frame.columns == list(want[(w.candle_type, w.timeframe)])
        assert all(frame.schema[c] == pl.Float64 for c in frame.columns[1:])
        assert frame.to_dict(as_series=False) == want[(w.candle_type, w.timeframe)]


FORMATS = ("feather", "parquet", "json")


@pytest.fixture(scope="module")
def freqtrade_read(filled, tmp_path_factory) -> dict[str, tuple[dict, list]]:
    """Per format: what freqtrade's loader read from both symbols' export at 1m and 1h, and the files written. One
    freqtrade process reads all three formats (its import takes most of the time)."""
    if not FREQTRADE_PYTHON.exists():
        pytest.skip(f"freqtrade's environment is not installed at {FREQTRADE_PYTHON} (`make freqtrade`, or set "
                    "DATAFACTORY_FREQTRADE_PYTHON)")
    root, written = tmp_path_factory.mktemp("freqtrade"), {}
    with filled.connect(read_only=True) as conn:
        for fmt in FORMATS:
            written[fmt] = [w for symbol in SYMBOLS for candle_types in ([], list(PRICE_TYPES))
                            for w in export_futures(conn, symbol=symbol, datadir=root / fmt, timeframes=["1m", "1h"],
                                                    candle_types=candle_types, start=None, end=None, fmt=fmt)]
    answer = subprocess.run([str(FREQTRADE_PYTHON), str(LOADER), *(f"{fmt}={root / fmt}" for fmt in FORMATS)],
                            capture_output=True, text=True, timeout=300,
                            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert answer.returncode == 0, answer.stderr
    read = json.loads(answer.stdout)
    return {fmt: (read[fmt], written[fmt]) for fmt in FORMATS}


@pytest.mark.parametrize("fmt", FORMATS)
def test_freqtrades_own_loader_reads_back_exactly_what_was_stored(conn, freqtrade_read, fmt):
    read, written = freqtrade_read[fmt]
    if fmt == "json":  # the file itself holds every stored double exactly
        path = next(w.path for w in written if w.candle_type == "futures" and w.timeframe == "1m")
        assert json.loads(path.read_text()) == [list(row) for row in zip(*expected(conn, "BTC/USDT:USDT")[
            ("futures", "1m")].values(), strict=True)]
    assert sorted(map(tuple, read["found"])) == sorted(
        (symbol, tf, ct) for symbol in SYMBOLS for ct, tf in (("futures", "1m"), ("futures", "1h"), ("mark", "1h"),
                                                               ("funding_rate", "1h"), ("index", "1m"), ("index", "1h"),
                                                               ("premiumIndex", "1m"), ("premiumIndex", "1h")))
    for symbol in SYMBOLS:
        for (candle_type, timeframe), rows in expected(conn, symbol).items():
            loaded = read["loaded"][f"{symbol}|{timeframe}|{candle_type}"]
            if candle_type == "funding_rate":
                assert loaded.pop("open") == loaded["funding_rate"]  # freqtrade's in-memory alias of the rate
            if fmt == "json":  # pandas' read_json, freqtrade's JSON loader, parses floats fast, not exactly
                assert loaded["date"] == rows["date"]
                assert {c: pytest.approx(v, rel=1e-15, abs=0) for c, v in loaded.items()} == rows
            else:
                assert loaded == rows, (symbol, candle_type, timeframe)
    # backtesting joins funding events to 1h mark candles on the date: every stored event meets its candle
    assert read["joined"] == {"BTC/USDT:USDT": 6, "ETH/USDT:USDT": 3 + 6}


def test_the_window_is_half_open_and_funding_follows_its_events(conn, tmp_path):
    written = export_futures(conn, symbol="ETH/USDT:USDT", datadir=tmp_path, start=datetime(2025, 1, 14, 16),
                             end=datetime(2025, 1, 15, 8), fmt="parquet")
    dates = {w.candle_type: pl.read_parquet(w.path)["date"] for w in written}
    assert dates["futures"].min() == datetime(2025, 1, 14, 16, tzinfo=UTC)
    assert dates["futures"].max() == datetime(2025, 1, 15, 7, 59, tzinfo=UTC)
    assert [d.hour for d in dates["funding_rate"]] == [16, 0, 4]  # 8h, then 4h from 2025-01-15


def test_freqtrades_file_names_and_choice_of_files():
    assert pair_filename("BTC/USDT:USDT", timeframe="1m", candle_type="futures", fmt="feather") == \
        "futures/BTC_USDT_USDT-1m-futures.feather"
    assert pair_filename("1000PEPE/USDT:USDT", timeframe="1M", candle_type="premiumIndex", fmt="json") == \
        "futures/1000PEPE_USDT_USDT-1Mo-premiumIndex.json"
    default = [(ct.name, tf) for ct, tf in plan(timeframes=["5m", "1h"], candle_types=[])]
    assert default == [("futures", "5m"), ("futures", "1h"), ("mark", "1h"), ("funding_rate", "1h")]
    asked = [(ct.name, tf) for ct, tf in plan(timeframes=["1m"], candle_types=["index", "mark"])]
    assert asked == [("index", "1m"), ("mark", "1m")]
    with pytest.raises(ValueError, match="unknown candle type fundingrate; freqtrade's futures candle types are"):
        plan(timeframes=["1m"], candle_types=["fundingrate"])


def test_bad_requests_say_why_and_write_nothing(conn, tmp_path):
    def export(**kwargs):
        return export_futures(conn, **{"symbol": "BTC/USDT:USDT", "datadir": tmp_path, "start": None, "end": None,
                                       **kwargs})

    with pytest.raises(ValueError, match="BTC/USDT is a spot pair; freqtrade's futures layout holds perpetuals "
                                         "such as BTC/USDT:USDT"):
        export(symbol="BTC/USDT")
    with pytest.raises(ValueError, match="unknown format 'csv' for freqtrade"):
        export(fmt="csv")
    with pytest.raises(ValueError, match="timeframe '5m' is not available for BTC/USDT:USDT"):
        export(timeframes=["5m"])
    with pytest.raises(ValueError, match="no candles stored for SOL/USDT:USDT"):
        export(symbol="SOL/USDT:USDT")
    with pytest.raises(EmptyExportError, match="no BTC/USDT:USDT futures 1m, mark 1h, funding_rate 1h stored in"):
        export(start=datetime(2025, 2, 1))
    with pytest.raises(ValueError, match="no dataset holds freqtrade's mark data: mark_candles is not declared"):
        export(datasets={k: v for k, v in DATASETS.items() if k != "mark_candles"})
    assert not any(tmp_path.rglob("*.feather"))

    first = export()
    funding = first[-1].path
    funding.unlink()
    before = {w.path: w.path.read_bytes() for w in first[:-1]}
    with pytest.raises(FileExistsError, match="already exist"):
        export(start=datetime(2025, 1, 15))
    assert not funding.exists() and {p: p.read_bytes() for p in before} == before
    assert export(start=datetime(2025, 1, 15), overwrite=True)[0].rows == 1440

