"""`datafactory status`, `health`, `gaps` and `revisions` against a warehouse filled through the real asset code."""

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.cli import main
from datafactory_assets.hourly import open_hour
from datafactory_assets.sources.resource import SourcesResource
from datafactory_tests.cli.helpers import START, run
from datafactory_tests.helpers import as_schema_version_7, error_lines, symbol_settings


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


def test_status_on_an_older_file_it_cannot_upgrade_read_only_says_to_run_init(cli_env):
    with cli_env.connect() as conn:
        as_schema_version_7(conn)
    older = CliRunner().invoke(main, ["status"])
    (line,) = error_lines(older)  # besides the warehouse's own line
    assert older.exit_code == 1 and older.stdout == "" and line.startswith("Error: warehouse schema version 7 is ")
    assert "older than this code's" in line and "run `datafactory init`" in line
    assert run("init").exit_code == 0 and run("status").exit_code == 0


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
