"""Exports read back exactly: candles stored through the real ingest path (ccxt against the emulator), written to
Parquet and CSV, loaded with pandas and Polars, compared with the stored rows and a Polars recomputation of the
1h / 1d rollups."""

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import polars as pl
import pytest

from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.frames import candles_from_rows
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse import WarehouseResource
from datafactory_assets.warehouse.export import (COLUMNS, EmptyExportError, base_timeframe, default_filename,
                                                 export_candles, timeframes)
from datafactory_assets.warehouse.writes import upsert_candles
from datafactory_tests.helpers import ms, symbol_settings

START = datetime(2024, 3, 1, 20, tzinfo=UTC)  # eight hours over two UTC days
END = START + timedelta(hours=8)
NAIVE_START, NAIVE_END = START.replace(tzinfo=None), END.replace(tzinfo=None)
EVERY = {"1m": None, "1h": "1h", "1d": "1d"}


@pytest.fixture(scope="module")
def filled(tmp_path_factory, emulator_session) -> WarehouseResource:
    """BTC/USDT at 1m and ETH/USDT at 5m over [START, END), ingested once for the module."""
    warehouse = WarehouseResource(path=str(tmp_path_factory.mktemp("export") / "warehouse.duckdb"))
    sources = SourcesResource(emulator_url=emulator_session.url)
    for settings in (symbol_settings("BTC/USDT"), symbol_settings("ETH/USDT", timeframe="5m")):
        ingest_window(settings, start=START, end=END, sources=sources, warehouse=warehouse)
    return warehouse


@pytest.fixture
def conn(filled):
    with filled.connect(read_only=True) as connection:
        yield connection


def stored(conn, symbol="BTC/USDT", start=NAIVE_START, end=NAIVE_END) -> pl.DataFrame:
    """The stored base candles in [start, end) as an export's columns, `date` UTC-aware."""
    rows = conn.sql("SELECT ts, open, high, low, close, volume FROM candles WHERE symbol = ? AND ts >= ? AND ts < ? "
                    "ORDER BY ts", params=[symbol, start, end]).pl()
    return rows.select(pl.col("ts").dt.replace_time_zone("UTC").alias("date"), *COLUMNS[1:])


def recomputed(base: pl.DataFrame, timeframe: str) -> pl.DataFrame:
    """The 1h / 1d candles rebuilt in Polars from the base candles (first open, max high, min low, last close)."""
    if EVERY[timeframe] is None:
        return base
    return (base.sort("date").group_by_dynamic("date", every=EVERY[timeframe])
            .agg(pl.col("open").first(), pl.col("high").max(), pl.col("low").min(), pl.col("close").last(),
                 pl.col("volume").sum()))


def read_polars(path, fmt) -> pl.DataFrame:
    return pl.read_parquet(path) if fmt == "parquet" else pl.read_csv(path, try_parse_dates=True)


def read_pandas(path, fmt) -> pd.DataFrame:
    return pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path, parse_dates=["date"])


def assert_same(got: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert got.columns == list(COLUMNS)
    assert got.schema["date"] == pl.Datetime("us", "UTC")
    assert got.to_dicts() == expected.to_dicts()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("timeframe", ["1m", "1h", "1d"])
def test_an_export_reads_back_exactly_with_polars_and_pandas(conn, tmp_path, fmt, timeframe):
    path = tmp_path / default_filename("BTC/USDT", timeframe, fmt)
    day = datetime(2024, 3, 1, tzinfo=UTC)  # from midnight, so that the first day's bucket opens inside the window
    rows = export_candles(conn, symbol="BTC/USDT", timeframe=timeframe, start=day, end=END, path=path, fmt=fmt)
    base = stored(conn)
    assert base.height == 480
    view = {"1m": "candles", "1h": "candles_1h", "1d": "candles_1d"}[timeframe]
    served = conn.sql(  # what the warehouse serves at that timeframe, bit for bit
        f"SELECT ts AS date, open, high, low, close, volume FROM {view} "
        "WHERE symbol = 'BTC/USDT' AND ts >= ? AND ts < ? ORDER BY ts", params=[day.replace(tzinfo=None), NAIVE_END]
    ).pl().with_columns(pl.col("date").dt.replace_time_zone("UTC"))
    assert rows == served.height == {"1m": 480, "1h": 8, "1d": 2}[timeframe]

    from_polars = read_polars(path, fmt)
    assert_same(from_polars, served)
    from_pandas = pl.from_pandas(read_pandas(path, fmt)).with_columns(pl.col("date").dt.cast_time_unit("us"))
    assert_same(from_pandas, served)
    assert str(read_pandas(path, fmt)["date"].dtype).endswith(", UTC]")

    # against a Polars recomputation from the stored 1m rows; sums of doubles may differ in the last bit by order
    expected = recomputed(base, timeframe)
    assert from_polars.drop("volume").to_dicts() == expected.drop("volume").to_dicts()
    assert from_polars["volume"].to_list() == pytest.approx(expected["volume"].to_list(), rel=1e-12, abs=0)


def test_a_parquet_export_loads_the_way_freqtrade_loads_its_own_files(conn, tmp_path):
    path = tmp_path / "BTC_USDT-1h.parquet"
    export_candles(conn, symbol="BTC/USDT", timeframe="1h", start=START, end=END, path=path, fmt="parquet")
    frame = pd.read_parquet(path)
    frame.columns = ["date", "open", "high", "low", "close", "volume"]  # freqtrade renames by position
    frame = frame.astype({c: "float" for c in ("open", "high", "low", "close", "volume")})
    frame["date"] = pd.to_datetime(frame["date"], unit="ms", utc=True)
    assert frame["date"].iloc[0] == pd.Timestamp("2024-03-01 20:00", tz="UTC")
    assert frame["date"].is_monotonic_increasing and frame["date"].is_unique and len(frame) == 8


def test_the_csv_has_iso_dates_with_an_explicit_utc_offset(conn, tmp_path):
    path = tmp_path / "x.csv"
    conn.execute("SET TimeZone = 'America/New_York'")  # the session's zone must not shift anything
    export_candles(conn, symbol="BTC/USDT", timeframe="1m", start=START, end=START + timedelta(minutes=2), path=path,
                   fmt="csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "date,open,high,low,close,volume"
    assert [line.split(",")[0] for line in lines[1:]] == ["2024-03-01T20:00:00+00:00", "2024-03-01T20:01:00+00:00"]
    parquet = tmp_path / "x.parquet"
    export_candles(conn, symbol="BTC/USDT", timeframe="1m", start=START, end=START + timedelta(minutes=2),
                   path=parquet, fmt="parquet")
    assert pl.read_parquet(parquet)["date"].to_list() == [START, START + timedelta(minutes=1)]


def test_awkward_doubles_survive_both_formats_bit_for_bit(tmp_path):
    warehouse = WarehouseResource(path=str(tmp_path / "w.duckdb"))
    values = [0.1 + 0.2, 1 / 3, 1e-300, 5e-324, 123456789.12345679, 1.7976931348623157e308, 0.0, 2.5e-8, 65432.1]
    raw = [[ms(START) + i * 60_000, v, v, v, v, v] for i, v in enumerate(values)]
    with warehouse.connect() as conn:
        upsert_candles(conn, candles_from_rows(raw, symbol="ODD/USDT", source="binance"),
                       symbol=symbol_settings("ODD/USDT"))
    with warehouse.connect(read_only=True) as conn:
        for fmt in ("parquet", "csv"):
            path = tmp_path / f"odd.{fmt}"
            assert export_candles(conn, symbol="ODD/USDT", start=None, end=None, path=path, fmt=fmt) == len(values)
            for column in COLUMNS[1:]:
                assert read_polars(path, fmt)[column].to_list() == values
                assert read_pandas(path, fmt)[column].to_list() == values


def test_the_window_is_half_open_on_the_open_time(conn, tmp_path):
    def export(timeframe, start, end, name):
        path = tmp_path / name
        export_candles(conn, symbol="BTC/USDT", timeframe=timeframe, start=start, end=end, path=path, fmt="parquet")
        return pl.read_parquet(path)["date"]

    minutes = export("1m", START + timedelta(minutes=30), START + timedelta(hours=1), "a.parquet")
    assert minutes.len() == 30
    assert (minutes.min(), minutes.max()) == (START + timedelta(minutes=30), START + timedelta(minutes=59))
    # an hour opening before start is not in the window, one opening at end is not either
    hours = export("1h", START + timedelta(minutes=30), START + timedelta(hours=3), "b.parquet")
    assert hours.to_list() == [START + timedelta(hours=1), START + timedelta(hours=2)]
    # aware bounds in another zone are converted to UTC; naive bounds are UTC
    plus_two = timezone(timedelta(hours=2))
    shifted = export("1h", datetime(2024, 3, 1, 23, tzinfo=plus_two), datetime(2024, 3, 2, 1), "c.parquet")
    assert shifted.to_list() == [START + timedelta(hours=1 + h) for h in range(4)]
    # no bounds: everything stored for the symbol, and nothing of any other symbol
    assert export("1m", None, None, "d.parquet").to_list() == stored(conn)["date"].to_list()
    days = export("1d", None, datetime(2024, 3, 2), "e.parquet")
    assert days.to_list() == [datetime(2024, 3, 1, tzinfo=UTC)]


def test_the_base_timeframe_is_the_symbols_own(conn, tmp_path):
    assert base_timeframe(conn, "BTC/USDT") == "1m" and timeframes(conn, "BTC/USDT") == ["1m", "1h", "1d"]
    assert timeframes(conn, "ETH/USDT") == ["5m", "1h", "1d"]
    path = tmp_path / "eth.parquet"
    assert export_candles(conn, symbol="ETH/USDT", start=START, end=END, path=path) == 96
    eth = pl.read_parquet(path)
    assert_same(eth, stored(conn, "ETH/USDT"))
    assert eth["date"].diff().drop_nulls().unique().to_list() == [timedelta(minutes=5)]
    with pytest.raises(ValueError, match=r"timeframe '1m' is not available for ETH/USDT; valid: \['5m', '1h', '1d'\]"):
        export_candles(conn, symbol="ETH/USDT", timeframe="1m", start=START, end=END, path=tmp_path / "no.parquet")


def test_bad_requests_fail_clearly_and_write_nothing(conn, tmp_path):
    path = tmp_path / "out.parquet"
    common = {"symbol": "BTC/USDT", "start": START, "end": END, "path": path}
    with pytest.raises(ValueError, match=r"timeframe '4h' is not available for BTC/USDT; valid: \['1m', '1h', '1d'\]"):
        export_candles(conn, timeframe="4h", **common)
    with pytest.raises(ValueError, match=r"unknown export format 'json'; use one of \['parquet', 'csv'\]"):
        export_candles(conn, fmt="json", **common)
    with pytest.raises(ValueError,
                       match=r"no candles stored for DOGE/USDT; stored symbols: \['BTC/USDT', 'ETH/USDT'\]"):
        export_candles(conn, **{**common, "symbol": "DOGE/USDT"})
    with pytest.raises(ValueError, match="start 2024-03-02 04:00 is not before end 2024-03-01 20:00"):
        export_candles(conn, **{**common, "start": END, "end": START})
    with pytest.raises(EmptyExportError,
                       match=r"no BTC/USDT 1h candles stored in \[2024-03-05 00:00, 2024-03-06 00:00\) UTC"):
        export_candles(conn, **{**common, "start": datetime(2024, 3, 5), "end": datetime(2024, 3, 6)}, timeframe="1h")
    assert list(tmp_path.iterdir()) == []  # not even a partial file


def test_an_existing_file_is_kept_unless_overwrite_is_asked(conn, tmp_path):
    path = tmp_path / "sub" / "dir" / "BTC_USDT-1h.csv"
    assert export_candles(conn, symbol="BTC/USDT", timeframe="1h", start=START, end=END, path=path, fmt="csv") == 8
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="already exists; pass overwrite=True"):
        export_candles(conn, symbol="BTC/USDT", timeframe="1m", start=START, end=END, path=path, fmt="csv")
    assert path.read_bytes() == before
    with pytest.raises(EmptyExportError):  # an empty selection leaves the old file too, even with overwrite
        export_candles(conn, symbol="BTC/USDT", start=END, end=END + timedelta(hours=1), path=path, fmt="csv",
                       overwrite=True)
    assert path.read_bytes() == before
    assert export_candles(conn, symbol="BTC/USDT", timeframe="1m", start=START, end=END, path=path, fmt="csv",
                          overwrite=True) == 480
    assert pl.read_csv(path).height == 480
    assert [p.name for p in path.parent.iterdir()] == [path.name]
