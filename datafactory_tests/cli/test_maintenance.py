"""`datafactory init`, `archive` and `doctor` against a warehouse filled through the real asset code."""

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.cli import main
from datafactory_assets.sources.resource import SourcesResource
from datafactory_tests.cli.helpers import START, run
from datafactory_tests.helpers import symbol_settings


def test_init_creates_the_schema_and_a_fresh_timestamped_database(cli_env, tmp_path):
    assert run("init").exit_code == 0
    nothing = run("status").output  # configured, never run: 0%, every candle not yet fetched
    (btc,) = [line for line in nothing.splitlines() if "BTC/USDT" in line]
    assert "│ 0.0 " in btc and "1 symbol(s): 0.0% complete: 0 of " in nothing
    result = run("init", "--fresh")
    assert result.exit_code == 0
    (fresh,) = tmp_path.glob("crypto_data_*.duckdb")
    assert fresh.name in result.output.replace("\n", "")


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
