"""`datafactory doctor`'s checks find each kind of injected corruption, and `--fix` removes what it should."""

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.cli import main
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse.integrity import find_problems
from datafactory_tests.helpers import symbol_settings

START = datetime(2024, 3, 1, 10, tzinfo=UTC)
ROW = "'BTC/USDT', TIMESTAMP '{ts}', 10, 11, 9, 10.5, 1, 'binance', TIMESTAMP '2024-03-02'"

CORRUPTIONS = {
    "duplicate_candles": f"INSERT INTO candles VALUES ({ROW.format(ts='2024-03-01 10:05:00')})",
    "misaligned_timestamp": f"INSERT INTO candles VALUES ({ROW.format(ts='2024-03-01 10:05:30')})",
    "before_start": f"INSERT INTO candles VALUES ({ROW.format(ts='2024-02-01 00:00:00')})",
    "still_open_candle": f"INSERT INTO candles VALUES ({ROW.format(ts='2099-01-01 00:00:00')})",
    "unknown_symbol": "INSERT INTO candles VALUES ('ZZZ/USDT', TIMESTAMP '2024-03-01 10:00:00', 1, 1, 1, 1, 1, "
                      "'x', TIMESTAMP '2024-03-02')",
    "invalid_values": "UPDATE candles SET low = high * 2 WHERE ts = TIMESTAMP '2024-03-01 10:07:00'",
}


@pytest.fixture
def healthy(warehouse, emulator, monkeypatch, tmp_path):
    config = tmp_path / "datafactory.toml"
    config.write_text('[defaults]\nstart = "2024-03-01"\n[symbols]\n"BTC/USDT" = {}\n')
    monkeypatch.setenv("DATAFACTORY_CONFIG", str(config))
    monkeypatch.setenv("DATAFACTORY_WAREHOUSE", warehouse.path)
    ingest_window(symbol_settings(), start=START, end=START + timedelta(hours=1),
                  sources=SourcesResource(emulator_url=emulator.url), warehouse=warehouse)
    return warehouse


def test_a_healthy_warehouse_has_no_findings(healthy):
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 0 and "healthy" in result.output


@pytest.mark.parametrize("check", sorted(CORRUPTIONS))
def test_each_kind_of_corruption_is_found_and_named(healthy, check):
    with healthy.connect() as conn:
        conn.execute(CORRUPTIONS[check])
        findings = find_problems(conn)
    assert [f.check for f in findings] == [check]
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 1 and check in result.output and "->" in result.output


def test_fix_removes_bad_rows_and_extra_copies_and_keeps_good_candles(healthy):
    with healthy.connect() as conn:
        for check in ("duplicate_candles", "misaligned_timestamp", "before_start", "still_open_candle",
                      "unknown_symbol"):
            conn.execute(CORRUPTIONS[check])
    result = CliRunner().invoke(main, ["doctor", "--fix"])
    assert result.exit_code == 0, result.output
    assert "removed 5 row(s)" in result.output and "healthy" in result.output
    with healthy.connect(read_only=True) as conn:
        assert conn.sql("SELECT count(*), count(DISTINCT ts) FROM candles").fetchall() == [(60, 60)]


def test_a_schema_from_another_version_is_reported(healthy):
    with healthy.connect() as conn:
        conn.execute("DELETE FROM schema_version")
        (finding,) = find_problems(conn)
    assert finding.check == "schema_version" and "datafactory init" in finding.fix
