"""`datafactory export`: files pandas and freqtrade read back exactly, and bad input refused in one line."""

from datetime import UTC, datetime, timedelta

from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.sources.resource import SourcesResource
from datafactory_tests.cli.helpers import START, run
from datafactory_tests.helpers import symbol_settings


def test_export_writes_files_pandas_reads_back_exactly_and_never_clobbers(cli_env, emulator, tmp_path):
    import pandas as pd
    import polars as pl

    ingest_window(symbol_settings(), start=START, end=START + timedelta(hours=2),
                  sources=SourcesResource(emulator_url=emulator.url), warehouse=cli_env)
    result = run("export", "--symbol", "BTC/USDT", "--start", "2024-03-01", "--end", "2024-03-01T11:30")
    path = tmp_path / "data" / "exports" / "BTC_USDT-1m.parquet"
    assert result.exit_code == 0 and f"wrote 90 BTC/USDT 1m candle(s) to {path}" in result.output
    with cli_env.connect(read_only=True) as conn:
        stored = conn.sql("SELECT ts AS date, open, high, low, close, volume FROM candles ORDER BY ts").pl()
    frame = pd.read_parquet(path)
    assert str(frame["date"].dtype) == "datetime64[us, UTC]"
    assert pl.from_pandas(frame).with_columns(pl.col("date").dt.replace_time_zone(None)).equals(stored.head(90))

    again = run("export", "--symbol", "BTC/USDT", "--start", "2024-03-01", "--end", "2024-03-01T11:00")
    assert again.exit_code == 1 and "already exists" in again.output and "--overwrite" in again.output
    assert pd.read_parquet(path).shape == (90, 6)
    assert run("export", "--symbol", "BTC/USDT", "--end", "2024-03-01T11:00", "--overwrite").exit_code == 0
    assert pd.read_parquet(path).shape == (60, 6)

    hourly = run("export", "--symbol", "BTC/USDT", "--timeframe", "1h", "--format", "csv")
    assert hourly.exit_code == 0
    csv = pd.read_csv(tmp_path / "data" / "exports" / "BTC_USDT-1h.csv", parse_dates=["date"])
    assert csv["date"].tolist() == [pd.Timestamp(f"2024-03-01 {h}:00", tz="UTC") for h in (10, 11)]
    assert csv["open"].tolist() == stored["open"].gather([0, 60]).to_list()
    assert csv["close"].tolist() == stored["close"].gather([59, 119]).to_list()

    out = tmp_path / "elsewhere.csv"
    for args, message in [
        (["--timeframe", "4h"], "timeframe '4h' is not available for BTC/USDT; valid: ['1m', '1h', '1d']"),
        (["--start", "2024-03-05", "--end", "2024-03-06"],
         f"no BTC/USDT 1m candles stored in [2024-03-05 00:00, 2024-03-06 00:00) UTC: nothing written to {out}"),
        (["--symbol", "DOGE/USDT"], "no candles stored for DOGE/USDT; stored symbols: ['BTC/USDT']"),
    ]:
        failed = run("export", "--symbol", "BTC/USDT", "--format", "csv", "--output", str(out), *args)
        assert failed.exit_code == 1 and message in failed.output.replace("\n", "")
    assert not out.exists()
    bad = run("export", "--symbol", "BTC/USDT", "--start", "yesterday")
    assert bad.exit_code == 2 and "is not a date (2025-01-01) or an ISO hour" in bad.output


def test_a_futures_export_writes_freqtrades_layout_and_refuses_bad_input_in_one_line(cli_env, emulator, tmp_path):
    import polars as pl

    from datafactory_assets.datasets import FUNDING_RATES, PERP_CANDLES

    perp = symbol_settings("BTC/USDT:USDT", start=datetime(2025, 1, 14, tzinfo=UTC))
    for dataset in (PERP_CANDLES, FUNDING_RATES):
        ingest_window(perp, start=perp.start, end=perp.start + timedelta(hours=16), dataset=dataset,
                      sources=SourcesResource(emulator_url=emulator.url), warehouse=cli_env)
    datadir = tmp_path / "user_data" / "data" / "binance"
    result = run("export", "--trading-mode", "futures", "--symbol", "BTC/USDT:USDT", "--dir", str(datadir),
                 "--candle-type", "futures", "--candle-type", "funding_rate", "--timeframe", "1m", "--timeframe", "1h")
    assert result.exit_code == 0, result.output
    files = [datadir / "futures" / f"BTC_USDT_USDT-{name}.feather" for name in ("1m-futures", "1h-futures",
                                                                                 "1h-funding_rate")]
    assert result.stdout.splitlines() == [
        f"wrote 960 BTC/USDT:USDT futures 1m row(s) to {files[0]}",
        f"wrote 16 BTC/USDT:USDT futures 1h row(s) to {files[1]}",
        f"wrote 2 BTC/USDT:USDT funding_rate 1h row(s) to {files[2]}",
        f"freqtrade reads them with: --trading-mode futures --datadir {datadir} --data-format-ohlcv feather"]
    assert pl.read_ipc(files[2]).columns == ["date", "funding_rate"]

    for args, code, message in [
        (["--symbol", "BTC/USDT:USDT"], 1, "already exist(s); pass overwrite=True (--overwrite) to replace"),
        (["--symbol", "BTC/USDT"], 1, "BTC/USDT is a spot pair; freqtrade's futures layout holds perpetuals such "
                                      "as BTC/USDT:USDT"),
        (["--symbol", "BTC/USDT:USDT", "--candle-type", "mark"], 1,
         "no BTC/USDT:USDT mark 1m stored in [the first candle, now) UTC"),
        (["--symbol", "BTC/USDT:USDT", "--candle-type", "funding"], 1, "unknown candle type funding; freqtrade's "
                                                                         "futures candle types are futures, mark"),
        (["--symbol", "BTC/USDT:USDT", "--format", "csv", "--output", "x.csv"], 2,
         "--output is for --trading-mode spot; --format csv is for --trading-mode spot (a futures export writes "
         "freqtrade's files under --dir)"),
    ]:
        failed = run("export", "--trading-mode", "futures", "--dir", str(datadir), "--candle-type", "futures", *args)
        assert failed.exit_code == code and message in " ".join(failed.output.split()), failed.output
        assert "Traceback" not in failed.output
    spot = run("export", "--symbol", "BTC/USDT", "--dir", str(datadir), "--timeframe", "1m", "--timeframe", "1h")
    assert spot.exit_code == 2 and ("--dir is for --trading-mode futures; more than one --timeframe is for "
                                    "--trading-mode futures (a spot export writes one file") in " ".join(
                                        spot.output.split())
