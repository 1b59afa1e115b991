"""The `datafactory` command against a warehouse filled through the real asset code."""

import json
import os
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.cli import main
from datafactory_assets.hourly import open_hour
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse import connection
from datafactory_assets.warehouse.file_lock import lock_path
from datafactory_tests.helpers import (as_schema_version_7, error_lines, read_only_mount_missing, run_on_read_only,
                                      symbol_settings)

START = datetime(2024, 3, 1, 10, tzinfo=UTC)


@pytest.fixture
def cli_env(tmp_path, warehouse, monkeypatch):
    config = tmp_path / "datafactory.toml"
    config.write_text('[defaults]\nstart = "2024-03-01"\n[symbols]\n"BTC/USDT" = {}\n')
    monkeypatch.setenv("DATAFACTORY_CONFIG", str(config))
    monkeypatch.setenv("DATAFACTORY_WAREHOUSE", warehouse.path)
    return warehouse


def run(*args):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False, terminal_width=200)
    return result


def test_status_prints_the_coverage_table(cli_env, emulator):
    ingest_window(symbol_settings(), start=START, end=START + timedelta(hours=2),
                  sources=SourcesResource(emulator_url=emulator.url), warehouse=cli_env)
    result = run("status")
    assert result.exit_code == 0
    assert "Data coverage status, to " in result.output and "UTC (the last closed hour)" in result.output
    (btc,) = [line for line in result.output.splitlines() if "BTC/USDT" in line]
    symbol, dataset, counted_from, from_ts, expected, stored, confirmed, missing, not_fetched, *_ = (
        cell.strip() for cell in btc.split("│")[1:-1])
    assert (symbol, dataset, counted_from, from_ts, stored, confirmed, missing) == (
        "BTC/USDT", "candles", "start", "2024-03-01 00:00:00", "120", "0", "0")
    assert int(not_fetched) == int(expected) - 120 > 1_000_000
    assert result.output.splitlines()[-1].startswith("1 symbol(s): 0.0% complete: 120 of ")


def test_status_lists_a_perpetual_under_the_datasets_it_collects_not_as_missing_spot_candles(tmp_path, warehouse,
                                                                                            monkeypatch):
    """Before, status counted every configured symbol's spot candles: a perpetual showed 0% of candles it never
    collects, and dragged the total down."""
    config = tmp_path / "datafactory.toml"
    config.write_text('[defaults]\nstart = "2024-09-10"\n[symbols]\n"BTC/USDT" = {}\n'
                      '"BTC/USDT:USDT" = { datasets = ["perp_candles", "open_interest", "funding_rates"] }\n')
    monkeypatch.setenv("DATAFACTORY_CONFIG", str(config))
    monkeypatch.setenv("DATAFACTORY_WAREHOUSE", warehouse.path)
    monkeypatch.setenv("COLUMNS", "250")  # one line per row
    assert run("init").exit_code == 0
    result = run("status")
    rows = [[cell.strip() for cell in line.split("│")[1:3]] for line in result.output.splitlines()
            if line.startswith("│ ") and "USDT" in line]
    assert rows == [["BTC/USDT", "candles"], ["BTC/USDT:USDT", "perp_candles"], ["BTC/USDT:USDT", "open_interest"],
                    ["BTC/USDT:USDT", "funding_rates"]]
    summaries = [line.split(" held ")[0] for line in result.output.splitlines()[-4:]]
    assert [line.split(": ")[0] for line in summaries] == [f"1 symbol(s) collecting {name}" for name in (
        "candles", "perp_candles", "open_interest", "funding_rates")]
    # each in its own unit: open interest counts 5-minute readings and funding its events, not candles
    assert [line.split(" of ")[1].split(" ", 1)[1] for line in summaries] == [
        "candle(s)", "candle(s)", "open-interest reading(s)", "funding event(s)"]


def test_status_says_a_delisted_pair_is_delisted_and_counts_to_its_delisting(tmp_path, warehouse, monkeypatch):
    """MATIC/USDT, which Binance delisted on 2024-09-10 at 03:00 UTC: complete up to then, never an ever-growing
    gap after it."""
    from datafactory_assets.emulator.server import Emulator

    config = tmp_path / "datafactory.toml"
    config.write_text('[defaults]\nstart = "2024-09-10"\n[symbols]\n"MATIC/USDT" = {}\n')
    monkeypatch.setenv("DATAFACTORY_CONFIG", str(config))
    monkeypatch.setenv("DATAFACTORY_WAREHOUSE", warehouse.path)
    with Emulator(symbols=["BTC/USDT", "MATIC/USDT"]) as emu:
        ingest_window(symbol_settings("MATIC/USDT", start=datetime(2024, 9, 10, tzinfo=UTC)),
                      start=datetime(2024, 9, 10, tzinfo=UTC), end=datetime(2024, 9, 10, 6, tzinfo=UTC),
                      sources=SourcesResource(emulator_url=emu.url), warehouse=warehouse)
    result = run("status")
    (matic,) = [line for line in result.output.splitlines() if "MATIC/USDT" in line]
    cells = [cell.strip() for cell in matic.split("│")[1:-1]]
    assert cells[4:10] + cells[-1:] == ["180", "180", "0", "0", "0", "100.0", "delisted 2024-09-10"]
    assert result.output.splitlines()[-1].startswith("1 symbol(s): 100.0% complete: 180 of 180 candle(s)")
    assert f"to {open_hour():%Y-%m-%d %H:%M} UTC (the last closed hour)" in result.output


def test_status_counts_a_month_configured_from_its_start_and_lists_symbols_never_run(tmp_path, warehouse, emulator):
    """The real command in its own process on the warehouse file: a fresh offline-style state (start a month back,
    the newest day stored) is far from complete, the rest not yet fetched; a configured symbol never run is 0%."""
    import subprocess

    start = (datetime.now(UTC) - timedelta(days=30)).replace(hour=0, minute=0, second=0, microsecond=0)
    config = tmp_path / "month.toml"
    config.write_text(f'[defaults]\nstart = "{start:%Y-%m-%d}"\n[symbols]\n"BTC/USDT" = {{}}\n"ETH/USDT" = {{}}\n')
    closed = open_hour()
    ingest_window(symbol_settings(start=start), start=closed - timedelta(days=1), end=closed,
                  sources=SourcesResource(emulator_url=emulator.url), warehouse=warehouse)
    env = {**os.environ, "DATAFACTORY_CONFIG": str(config), "DATAFACTORY_WAREHOUSE": warehouse.path}
    result = subprocess.run([sys.executable, "-m", "datafactory_assets.cli", "status"], capture_output=True,
                            text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    cells = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[3:-1]]  # after symbol and dataset
             for line in lines if line.startswith("│ ")}
    btc, eth = cells["BTC/USDT"], cells["ETH/USDT"]
    expected = int(btc[2])
    assert expected >= (closed - start) // timedelta(minutes=1) and eth[2] == btc[2]
    # counted_from, from_ts, expected, rows, confirmed_empty, missing, not_fetched, completeness_pct
    assert btc[:1] + btc[3:7] == ["start", "1440", "0", "0", str(expected - 1440)]
    assert float(btc[7]) == round(100 * 1440 / expected, 4) < 5
    assert eth[:1] + eth[3:8] == ["start", "0", "0", "0", str(expected), "0.0"]
    assert lines[-1] == (f"2 symbol(s): {100 * 1440 / (2 * expected):.1f}% complete: 1,440 of {2 * expected:,} "
                         f"candle(s) held (1,440 stored, 0 confirmed empty), 0 missing (asked, not served), "
                         f"{2 * expected - 1440:,} not yet fetched")


def test_status_and_gaps_without_a_warehouse_say_what_to_do_in_one_line(cli_env):
    for command in ("status", "gaps"):
        result = CliRunner().invoke(main, [command])
        assert result.exit_code == 1 and "run `datafactory init`" in result.output
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_status_on_an_older_file_it_cannot_upgrade_read_only_says_to_run_init(cli_env):
    with cli_env.connect() as conn:
        as_schema_version_7(conn)
    older = CliRunner().invoke(main, ["status"])
    (line,) = error_lines(older)  # besides the warehouse's own line
    assert older.exit_code == 1 and older.stdout == "" and line.startswith("Error: warehouse schema version 7 is ")
    assert "older than this code's" in line and "run `datafactory init`" in line
    assert run("init").exit_code == 0 and run("status").exit_code == 0


def test_reading_commands_name_the_warehouse_they_read_and_offline_reads_the_offline_one(cli_env, emulator, tmp_path,
                                                                                     monkeypatch):
    ingest_window(symbol_settings(), start=START, end=START + timedelta(hours=1),
                  sources=SourcesResource(emulator_url=emulator.url), warehouse=cli_env)
    result = run("status")
    assert result.stderr == f"warehouse: {cli_env.path}\n" and "BTC/USDT" in result.stdout
    monkeypatch.delenv("DATAFACTORY_WAREHOUSE")  # the config's: data/warehouse.duckdb beside it, not created
    offline = tmp_path / "data" / "offline.duckdb"
    for args, env in ((["--offline", "status"], {}), (["status"], {"DATAFACTORY_OFFLINE": "1"})):
        monkeypatch.delenv("DATAFACTORY_WAREHOUSE", raising=False)
        result = CliRunner().invoke(main, args, env=env)
        assert result.exit_code == 1 and result.output.strip() == (
            f"Error: no warehouse at {offline}: run `datafactory init` or materialize a partition"), result.output
    monkeypatch.delenv("DATAFACTORY_WAREHOUSE", raising=False)
    offline.parent.mkdir()
    offline.write_bytes(Path(cli_env.path).read_bytes())
    result = run("--offline", "gaps")
    assert result.exit_code == 0 and result.stderr == f"warehouse: {offline} (offline: emulator data)\n"
    assert "no gaps" in result.stdout


def test_without_the_real_warehouse_the_cli_points_at_the_offline_one_in_one_line(cli_env, tmp_path, monkeypatch):
    monkeypatch.delenv("DATAFACTORY_WAREHOUSE")
    (tmp_path / "data").mkdir()
    with connection.connect(tmp_path / "data" / "offline.duckdb"):
        pass
    for command in ("status", "gaps", "health", "doctor"):
        result = CliRunner().invoke(main, [command])
        assert result.exit_code == 1 and result.output.splitlines() == [
            f"Error: no warehouse at {tmp_path / 'data' / 'warehouse.duckdb'}; the offline platform's warehouse "
            f"(emulator data) is {tmp_path / 'data' / 'offline.duckdb'}: read it with `datafactory --offline "
            "<command>` or DATAFACTORY_OFFLINE=1"], (command, result.output)


def test_init_creates_the_schema_and_a_fresh_timestamped_database(cli_env, tmp_path):
    assert run("init").exit_code == 0
    nothing = run("status").output  # configured, never run: 0%, every candle not yet fetched
    (btc,) = [line for line in nothing.splitlines() if "BTC/USDT" in line]
    assert "│ 0.0 " in btc and "1 symbol(s): 0.0% complete: 0 of " in nothing
    result = run("init", "--fresh")
    assert result.exit_code == 0
    (fresh,) = tmp_path.glob("crypto_data_*.duckdb")
    assert fresh.name in result.output.replace("\n", "")


def test_gaps_lists_exactly_the_holes_of_a_replayed_file(cli_env, tmp_path):
    from datafactory_assets.emulator.server import Emulator
    from datafactory_tests.helpers import ms

    holes = {5, 6, 7, 30, 61, 100, 101}
    recorded = [[ms(START) + m * 60_000, 1.0, 1.5, 0.5, 1.2, 7.0] for m in range(120) if m not in holes]
    replay = tmp_path / "recorded.json"
    replay.write_text(__import__("json").dumps(recorded))
    config = tmp_path / "datafactory.toml"
    config.write_text(config.read_text() + '"ALT/BTC" = {}\n')
    with Emulator(replay={"ALT/BTC": replay}) as emu:
        ingest_window(symbol_settings("ALT/BTC"), start=START, end=START + timedelta(hours=2),
                      sources=SourcesResource(emulator_url=emu.url), warehouse=cli_env)
    output = run("gaps", "--symbol", "ALT/BTC").output
    assert "4 gap(s), 7 missing candle(s)" in output
    for first, last in [("10:05", "10:07"), ("10:30", "10:30"), ("11:01", "11:01"), ("11:40", "11:41")]:
        assert f"2024-03-01 {first}:00" in output and f"2024-03-01 {last}:00" in output
    nothing_stored = CliRunner().invoke(main, ["gaps", "--symbol", "BTC/USDT"])
    assert nothing_stored.exit_code == 1
    assert "no candles stored yet for BTC/USDT: gaps are unknown, not absent" in nothing_stored.output
    unknown = CliRunner().invoke(main, ["gaps", "--symbol", "BTC/USDTT"])
    assert unknown.exit_code == 1 and "BTC/USDTT is not configured" in unknown.output


def test_gaps_without_any_says_between_which_candles_it_looked(cli_env, emulator):
    ingest_window(symbol_settings(), start=START, end=START + timedelta(hours=2),
                  sources=SourcesResource(emulator_url=emulator.url), warehouse=cli_env)
    assert run("gaps", "--symbol", "BTC/USDT").stdout.strip() == (
        "no gaps between BTC/USDT's first and last stored candle (2024-03-01 10:00 .. 2024-03-01 11:59 UTC)")
    assert run("gaps").stdout.strip() == "no gaps between the first and last stored candle of each of 1 symbol(s)"


def test_gaps_names_the_configured_symbols_with_nothing_stored(cli_env, emulator):
    """A fresh fill: "no gaps" between the candles of the symbols that have some must not hide those that have
    none, whose whole history is unknown."""
    config = Path(os.environ["DATAFACTORY_CONFIG"])
    config.write_text(config.read_text() + '"ETH/USDT" = {}\n"SOL/USDT" = {}\n')
    ingest_window(symbol_settings(), start=START, end=START + timedelta(hours=2),
                  sources=SourcesResource(emulator_url=emulator.url), warehouse=cli_env)
    result = run("gaps")
    assert (result.exit_code, result.stdout.strip()) == (0, (
        "no gaps between the first and last stored candle of each of 1 symbol(s); nothing stored yet for ETH/USDT, "
        "SOL/USDT (`datafactory status` counts what is not yet fetched)"))


def test_health_shows_breaker_state_success_rate_latency_and_last_error(cli_env, emulator):
    from datafactory_assets.settings import SymbolSettings, load_settings

    sources = SourcesResource(emulator_url=emulator.url, state_path=str(load_settings().state_path),
                              breaker_fail_max=1, retry_attempts=1)
    emulator.add_fault("binance:status:503")
    chain = SymbolSettings(symbol="BTC/USDT", timeframe="1m", start=START, sources=("binance", "okx"))
    ingest_window(chain, start=START, end=START + timedelta(hours=1), sources=sources, warehouse=cli_env)
    output = run("health").output
    binance = next(line for line in output.splitlines() if "binance" in line)
    okx = next(line for line in output.splitlines() if "│ okx" in line)
    assert "open" in binance and "HTTP 503" in binance and "transient:OperationFailed" in binance
    assert "closed" in okx and "100.0" in okx


def test_the_emulator_command_serves_with_replays_faults_and_budgets(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    import requests

    from datafactory_assets.launcher import free_port

    replay = tmp_path / "alt.json"
    replay.write_text(json.dumps([[1709287200000, 1.0, 1.5, 0.5, 1.2, 7.0]]))
    port = free_port()
    proc = subprocess.Popen([Path(sys.executable).parent / "datafactory", "emulator", "--port", str(port),
                             "--replay", f"ALT/BTC={replay}", "--fault", "binance:garbage@1", "--budget", "binance=50",
                             "--price-offset", "okx=150"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert "listening" in proc.stdout.readline()
        base = f"http://127.0.0.1:{port}"
        assert requests.get(f"{base}/_emulator/faults", timeout=5).json()["faults"]
        assert "binance" in requests.get(f"{base}/_emulator/budgets", timeout=5).text
        assert requests.get(f"{base}/_emulator/offsets", timeout=5).json() == {"offsets": {"okx": 150.0}}
        listed = requests.get(f"{base}/binance/api/v3/exchangeInfo", timeout=5).json()["symbols"]
        symbols = [s["symbol"] for s in listed]
        assert "ALTBTC" in symbols
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_emulator_command_names_a_bad_price_offset():
    result = CliRunner().invoke(main, ["emulator", "--price-offset", "moon=150"])
    assert result.exit_code == 2 and "--price-offset" in result.output and "unknown venue 'moon'" in result.output


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

def test_archive_moves_old_months_and_status_reads_the_same(cli_env, emulator):
    btc = symbol_settings(start=datetime(2024, 1, 1, tzinfo=UTC))
    ingest_window(btc, start=datetime(2024, 1, 30, tzinfo=UTC), end=datetime(2024, 2, 2, tzinfo=UTC),
                  sources=SourcesResource(emulator_url=emulator.url), warehouse=cli_env)
    status = run("status").output
    dry = run("archive", "--before", "2024-02", "--dry-run")
    assert dry.exit_code == 0 and "would move 2880 candle(s) of 1 symbol-month(s)" in dry.output
    assert not cli_env.archive_path.exists()
    moved = run("archive", "--before", "2024-02-01")
    assert moved.exit_code == 0 and "moved 2880 candle(s)" in moved.output and "MiB ->" in moved.output
    assert (cli_env.archive_path / "symbol=BTC%2FUSDT" / "month=2024-01" / "data.parquet").exists()
    assert run("status").output == status
    assert run("archive", "--before", "2024-02-01").stdout.strip() == "nothing to archive before 2024-02-01"
    assert run("doctor").stdout.strip() == "warehouse healthy: no problems found"
    restored = run("archive", "--restore", "2024-01", "--symbol", "BTC/USDT")
    assert "restored 2880 BTC/USDT candle(s) of 2024-01" in restored.output and run("status").output == status
    for args, message in [(["--before", "2024-02-15"], "not the first day of a month"),
                          (["--restore", "2024-01"], "use --before DATE [--dry-run], or --restore YYYY-MM --symbol"),
                          ([], "use --before DATE")]:
        failed = run("archive", *args)
        assert failed.exit_code != 0 and message in failed.output, failed.output


def test_health_hourly_lists_each_source_per_hour(cli_env, emulator):
    ingest_window(symbol_settings(), start=START, end=START + timedelta(hours=2),
                  sources=SourcesResource(emulator_url=emulator.url), warehouse=cli_env)
    output = run("health", "--hourly").output
    assert "Source health per hour (UTC, the last 24 hour(s) with requests)" in output
    (binance,) = [line for line in output.splitlines() if "binance" in line]
    assert "│ 1 " in binance and "100.0" in binance


def test_revisions_lists_a_venue_correction_with_old_and_new_values(cli_env, emulator):
    hour = (START, START + timedelta(hours=1))
    sources = SourcesResource(emulator_url=emulator.url)
    ingest_window(symbol_settings(), start=hour[0], end=hour[1], sources=sources, warehouse=cli_env)
    assert run("revisions").stdout.strip() == "no revisions recorded: no stored candle was changed"
    with cli_env.connect(read_only=True) as conn:
        old = conn.sql("SELECT close FROM candles WHERE ts = '2024-03-01 10:30'").fetchall()[0][0]
    emulator.set_price_offset("binance", 20)
    ingest_window(symbol_settings(), start=hour[0], end=hour[1], sources=sources, warehouse=cli_env, run_id="r-1")
    with cli_env.connect(read_only=True) as conn:
        new = conn.sql("SELECT close FROM candles WHERE ts = '2024-03-01 10:30'").fetchall()[0][0]
    result = run("revisions", "--symbol", "BTC/USDT", "--limit", "40")
    assert result.exit_code == 0
    (line,) = [line for line in result.output.splitlines() if "2024-03-01 10:30:00" in line]
    assert f"{old} -> {new}" in line and "binance" in line and "r-1" in line
    assert "60 revision(s) of 1 symbol(s), the newest 40 shown (--limit shows more)" in result.output
    assert run("revisions", "--since", "2999-01-01").stdout.strip() == (
        "no revisions recorded since 2999-01-01: no stored candle was changed")
    unknown = CliRunner().invoke(main, ["revisions", "--symbol", "BTC/USDTT"])
    assert unknown.exit_code == 1 and "BTC/USDTT is not configured" in unknown.output
    bad = CliRunner().invoke(main, ["revisions", "--since", "yesterday"])
    assert bad.exit_code == 2 and "'yesterday' is not a date" in bad.output and "Traceback" not in bad.output


WITHOUT_DAGSTER = """
import json, sys
from datafactory_assets.cli import main
report = []
for args in json.loads(sys.argv[1]):
    try:
        main(args, prog_name="datafactory")
    except SystemExit as exit:
        report.append([args[0], exit.code, sorted(m for m in sys.modules if m.split(".")[0] == "dagster")[:3]])
print(json.dumps(report))
"""


def test_the_warehouse_commands_work_without_importing_dagster(cli_env, emulator, tmp_path):
    import json
    import subprocess
    import sys

    ingest_window(symbol_settings(), start=START, end=START + timedelta(hours=2),
                  sources=SourcesResource(emulator_url=emulator.url), warehouse=cli_env)
    commands = [["--help"], ["status", "--help"], ["status"], ["gaps"], ["gaps", "--dataset", "candles"], ["health"],
                ["export", "--symbol", "BTC/USDT", "--format", "csv", "--output", str(tmp_path / "btc.csv")],
                ["doctor"], ["archive", "--before", "2024-02", "--dry-run"], ["init"], ["revisions"]]
    result = subprocess.run([sys.executable, "-c", WITHOUT_DAGSTER, json.dumps(commands)], capture_output=True,
                            text=True, timeout=120)
    *output, report = result.stdout.splitlines()
    assert [(name, code, dagster) for name, code, dagster in json.loads(report)] == [
        (args[0], 0, []) for args in commands], result.stdout + result.stderr
    for said in ["Usage: datafactory [OPTIONS] COMMAND", "Usage: datafactory status [OPTIONS]",
                 "Data coverage status", "no gaps", "Source health (last 24 hours)", "wrote 120 BTC/USDT 1m candle(s)",
                 "warehouse healthy", "nothing to archive before 2024-02-01", "warehouse ready at",
                 "no revisions recorded: no stored candle was changed"]:
        assert said in "\n".join(output), said


def test_backfill_of_a_stored_window_needs_no_webserver_and_a_gap_is_all_it_asks_for(cli_env, emulator):
    from datafactory_assets.launcher import free_port

    ingest_window(symbol_settings(), start=START, end=START + timedelta(hours=2),
                  sources=SourcesResource(emulator_url=emulator.url), warehouse=cli_env)
    nobody = f"http://127.0.0.1:{free_port()}"
    args = ["backfill", "--from", "2024-03-01T10:00", "--to", "2024-03-01T11:00", "--url", nobody]
    stored = run(*args)
    assert stored.exit_code == 0 and stored.stdout.strip() == (
        "nothing to backfill: all 2 hour(s) of 1 symbol(s), 2024-03-01 10:00 .. 2024-03-01 11:00 UTC, are stored "
        "complete (--refetch fetches them again)")
    with cli_env.connect() as conn:
        conn.execute("DELETE FROM candles WHERE ts = '2024-03-01 11:30'")
    gap = run(*args)
    assert gap.exit_code == 1 and gap.output.splitlines() == [
        f"warehouse: {cli_env.path}",
        "1 of 2 hour(s) to fetch, 2024-03-01 10:00 .. 2024-03-01 11:00 UTC; 1 already stored complete",
        f"Error: no Dagster webserver answers at {nobody}: start it with `make up`"]
    assert "2 of 2 hour(s) to fetch" in run(*args, "--refetch").output


def test_gaps_says_what_a_confirmed_binance_hole_means(cli_env, tmp_path):
    from datafactory_assets.emulator.server import Emulator
    from datafactory_tests.helpers import ms

    recorded = [[ms(START) + m * 60_000, 1.0, 1.5, 0.5, 1.2, 7.0] for m in range(60) if m != 5]
    replay = tmp_path / "recorded.json"
    replay.write_text(__import__("json").dumps(recorded))
    config = tmp_path / "datafactory.toml"
    config.write_text(config.read_text() + '"ALT/BTC" = {}\n')
    with Emulator(replay={"ALT/BTC": replay}) as emu:
        for _ in range(2):
            ingest_window(symbol_settings("ALT/BTC"), start=START, end=START + timedelta(hours=1),
                          sources=SourcesResource(emulator_url=emu.url), warehouse=cli_env)
            with cli_env.connect() as conn:  # the hour between two confirmations, which the test cannot wait
                conn.execute("UPDATE known_gaps SET confirmed_at = confirmed_at - INTERVAL 61 MINUTE")
    output = " ".join(run("gaps", "--symbol", "ALT/BTC").output.split())
    assert "1 gap(s), 1 missing candle(s): 0 not yet confirmed, 1 confirmed empty" in output
    assert "reason" in output and "a trading halt or maintenance" in output


def test_a_pair_no_source_lists_fails_every_run_and_doctor_names_it_with_the_answers(cli_env, emulator, tmp_path):
    """Old: every run of the mistyped BTC/USDTT went green with 0 rows and its minutes became confirmed holes."""
    from datafactory_assets.resilience.chain import PairNotListedError
    from datafactory_assets.settings import load_settings
    from datafactory_assets.warehouse import queries

    config = tmp_path / "datafactory.toml"
    config.write_text('[defaults]\nstart = "2024-03-01"\nsources = ["binance_archive", "binance", "okx"]\n'
                      '[symbols]\n"BTC/USDT" = {}\n"BTC/USDTT" = {}\n')
    typo = next(s for s in load_settings().symbols if s.symbol == "BTC/USDTT")
    sources = SourcesResource(emulator_url=emulator.url, state_path=str(tmp_path / "state.sqlite"))
    for _ in range(2):
        with pytest.raises(PairNotListedError) as caught:
            ingest_window(typo, start=START, end=START + timedelta(hours=1), sources=sources, warehouse=cli_env)
    message = str(caught.value)
    assert message.startswith("BTC/USDTT is not listed by any source of its chain that was asked: ")
    assert "binance (not listed): binance does not list BTC/USDTT" in message
    assert "okx (not listed): okx does not list BTC/USDTT" in message
    with cli_env.connect(read_only=True) as conn:
        assert conn.sql("SELECT count(*) FROM known_gaps").fetchall() == [(0,)]
        asked = queries.incomplete_ranges(conn, [("BTC/USDTT", START, 60)], until=START + timedelta(hours=1))
    assert asked["BTC/USDTT"] == [(START.replace(tzinfo=None), (START + timedelta(hours=1)).replace(tzinfo=None))]
    result = CliRunner().invoke(main, ["doctor"], terminal_width=200)
    assert result.exit_code == 1 and "Traceback" not in result.output
    output = " ".join(result.output.split())
    assert "BTC/USDTT: not listed by any source of its chain" in output
    assert "binance does not list BTC/USDTT" in output and "okx does not list BTC/USDTT" in output
    config.write_text('[defaults]\nstart = "2024-03-01"\n[symbols]\n"BTC/USDT" = {}\n')  # the typo fixed
    assert "BTC/USDTT" not in CliRunner().invoke(main, ["doctor"], terminal_width=200).output


WAREHOUSE_COMMANDS = [["status"], ["gaps"], ["health"], ["export", "--symbol", "BTC/USDT"], ["doctor"],
                      ["archive", "--before", "2024-04", "--dry-run"], ["archive", "--before", "2024-04"],
                      ["backfill", "--from", "2024-03-01", "--to", "2024-03-01"], ["init"]]


@pytest.mark.parametrize("damaged", ["catalog metadata", "candles"])
def test_every_command_meets_a_damaged_file_with_one_line(cli_env, emulator, damaged):
    ingest_window(symbol_settings(), start=START, end=START + timedelta(hours=2),
                  sources=SourcesResource(emulator_url=emulator.url), warehouse=cli_env)
    with cli_env.connect(read_only=True) as conn:
        block = (conn.sql("SELECT min(block_id) FROM pragma_metadata_info()") if damaged == "catalog metadata" else
                 conn.sql("SELECT min(block_id) FROM pragma_storage_info('candles') WHERE block_id >= 0")
                 ).fetchall()[0][0]
    with open(cli_env.path, "r+b") as file:  # past the three 4 KiB headers, into the block's 256 KiB
        file.seek(3 * 4096 + block * 262144 + 4096)
        file.write(random.Random(block).randbytes(4096))
    damage_lines, exits = set(), {}
    for args in WAREHOUSE_COMMANDS:
        result = CliRunner().invoke(main, args, terminal_width=200)
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
        exits[args[0]] = result.exit_code
        if "is damaged" in result.output:
            damage_lines.add(args[0])
            (line,) = error_lines(result)
            assert line.startswith(f"Error: warehouse {cli_env.path} is damaged (Corrupt database "
                                   "file: computed checksum"), (args, result.output)
    if damaged == "catalog metadata":  # no command can open the file
        assert damage_lines == {args[0] for args in WAREHOUSE_COMMANDS}
    else:  # those that read the damaged block; doctor names it (test_integrity.py)
        assert damage_lines == {"status", "gaps", "export", "archive", "backfill"} and exits["doctor"] == 1


# Runs each command given as JSON through the CLI and prints, per command, its exit code and output.
RUN_COMMANDS = """
import json, sys
from click.testing import CliRunner
from datafactory_assets.cli import main
for args in json.loads(sys.argv[1]):
    result = CliRunner().invoke(main, args, terminal_width=200)
    print(json.dumps([args[0], result.exit_code, result.stdout, result.stderr, repr(result.exception)]))
"""


@pytest.mark.skipif(read_only_mount_missing() is not None, reason=str(read_only_mount_missing()))
@pytest.mark.parametrize("lock_file", ["kept", "never made"])
def test_reading_commands_work_on_a_read_only_volume(cli_env, emulator, tmp_path_factory, lock_file):
    ingest_window(symbol_settings(), start=START, end=START + timedelta(hours=2),
                  sources=SourcesResource(emulator_url=emulator.url), warehouse=cli_env)
    directory = cli_env.archive_path.parent
    if lock_file == "never made":  # as a warehouse copied onto a read-only volume
        lock_path(cli_env.archive_path.with_suffix(".duckdb")).unlink()
    for path in directory.iterdir():
        path.chmod(0o444)
    directory.chmod(0o555)
    out = tmp_path_factory.mktemp("exports") / "btc.csv"
    commands = [["status"], ["gaps"], ["export", "--symbol", "BTC/USDT", "--format", "csv", "--output", str(out)],
                ["doctor"], ["init"]]
    done = run_on_read_only(directory, [sys.executable, "-c", RUN_COMMANDS, json.dumps(commands)], timeout=300)
    directory.chmod(0o755)
    assert done.returncode == 0, done.stderr
    results = {name: (code, output, errors, exception) for name, code, output, errors, exception in
               map(json.loads, done.stdout.splitlines())}
    assert results["status"][0] == 0 and "BTC/USDT" in results["status"][1] and "120" in results["status"][1]
    assert results["gaps"][:2] == (0, "no gaps between the first and last stored candle of each of 1 symbol(s)\n")
    assert results["export"][:2] == (0, f"wrote 120 BTC/USDT 1m candle(s) to {out}\n")
    assert results["doctor"][:2] == (0, "warehouse healthy: no problems found\n")
    code, _, errors, _ = results["init"]  # writing is refused in one line
    assert code == 1 and errors.startswith(f"Error: [Errno 30] warehouse {cli_env.path} is in a directory this "
                                           "process cannot write (Read-only file system)")
    assert len(errors.splitlines()) == 1


def test_backfill_progress_says_when_its_runs_wait_in_the_instance_queue():
    from datafactory_assets.cli import _waiting

    assert _waiting([{"status": "QUEUED"}, {"status": "STARTED"}, {"status": "SUCCESS"}]) == (
        ", 1 queued (behind other runs of the instance)")
    assert _waiting([{"status": "STARTED"}]) == ""


def test_gaps_and_revisions_read_the_dataset_asked_for_and_refuse_one_not_collected_in_one_line(cli_env, emulator):
    """Before, both read spot candles only: a perpetual's missing candle and its revised candles were invisible."""
    from datafactory_assets.datasets import PERP_CANDLES

    config = Path(os.environ["DATAFACTORY_CONFIG"])
    config.write_text(config.read_text() + '"BTC/USDT:USDT" = { datasets = ["perp_candles"] }\n')
    perp = symbol_settings("BTC/USDT:USDT")
    hour = (START, START + timedelta(hours=1))
    sources = SourcesResource(emulator_url=emulator.url)
    ingest_window(perp, start=hour[0], end=hour[1], sources=sources, warehouse=cli_env, dataset=PERP_CANDLES)
    emulator.set_price_offset("binanceusdm", 20)
    ingest_window(perp, start=hour[0], end=hour[1], sources=sources, warehouse=cli_env, dataset=PERP_CANDLES,
                  run_id="r-perp")
    with cli_env.connect() as conn:
        conn.execute("DELETE FROM perp_candles WHERE ts = '2024-03-01 10:30'")
    output = " ".join(run("gaps", "--dataset", "perp_candles").output.split())
    assert "Gaps of perp_candles" in output and "2024-03-01 10:30:00" in output
    assert "1 gap(s), 1 missing candle(s): 1 not yet confirmed, 0 confirmed empty at every source" in output
    assert CliRunner().invoke(main, ["gaps"]).output.splitlines()[-1] == (
        "Error: no candles stored yet: gaps are unknown, not absent")  # spot candles, of which none are stored
    revised = run("revisions", "--dataset", "perp_candles", "--symbol", "BTC/USDT:USDT")
    assert "60 revision(s) of 1 symbol(s)" in revised.output and "r-perp" in revised.output
    assert "Candle revisions of BTC/USDT:USDT" in " ".join(revised.output.split())
    assert run("revisions").stdout.strip() == "no revisions recorded: no stored candle was changed"
    for args, said in [
        (["gaps", "--dataset", "perp_candles", "--symbol", "BTC/USDT"],
         "Error: Invalid value for --dataset: BTC/USDT does not collect perp_candles; it collects: candles"),
        (["revisions", "--dataset", "funding_rates"], "Error: Invalid value for --dataset: no configured symbol "
                                                      f"collects funding_rates (see {config})"),
        (["gaps", "--dataset", "funding"], "Error: Invalid value for '--dataset': 'funding' is not one of "),
    ]:
        result = CliRunner().invoke(main, args, terminal_width=400)
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert result.output.splitlines()[-1].startswith(said), result.output
