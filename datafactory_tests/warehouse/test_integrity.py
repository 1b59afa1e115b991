"""`datafactory doctor`'s checks find each kind of injected corruption, and `--fix` removes what it should.

The damaged-file cases are issue 9's: 4 KiB of random bytes written into the middle of a real warehouse (doctor
said "healthy", then `export` failed on a block checksum) and 8 KiB written 8 KiB before its end (doctor was clean
and every write failed). Both pass through the real ingest path into a real DuckDB file.
"""

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.cli import main
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse import WarehouseDamagedError
from datafactory_assets.warehouse.integrity import find_problems
from datafactory_tests.helpers import error_lines, symbol_settings

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


DAY = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.fixture
def filled(warehouse, emulator, monkeypatch, tmp_path):
    """Four days of two symbols, each day stored by its own run, as the schedule leaves a warehouse: 11,520 candles
    over several blocks, and the free blocks the runs' checkpoints left behind."""
    config = tmp_path / "datafactory.toml"
    config.write_text('[defaults]\nstart = "2024-03-01"\n[symbols]\n"BTC/USDT" = {}\n"ETH/USDT" = {}\n')
    monkeypatch.setenv("DATAFACTORY_CONFIG", str(config))
    monkeypatch.setenv("DATAFACTORY_WAREHOUSE", warehouse.path)
    sources = SourcesResource(emulator_url=emulator.url)
    for symbol in ("BTC/USDT", "ETH/USDT"):
        for day in range(4):
            _store_day(warehouse, sources, symbol, day)
    assert CliRunner().invoke(main, ["doctor"]).exit_code == 0
    return warehouse


def _store_day(warehouse, sources, symbol: str, day: int) -> None:
    ingest_window(symbol_settings(symbol), start=DAY + timedelta(days=day), end=DAY + timedelta(days=day + 1),
                  sources=sources, warehouse=warehouse)


def _scribble(path: str, *, offset: int, size: int) -> None:
    """Write `size` random bytes over the file at `offset`, as a failing disk or a stray `dd` would."""
    with open(path, "r+b") as file:
        file.seek(offset)
        file.write(random.Random(offset).randbytes(size))


def _candle_block_offset(path: str) -> int:
    """Where in the file a block of the `candles` table's data lies (its middle one), past the three 4 KiB headers
    and the block's own checksum: the middle of the file may hold another table's blocks or the catalog's."""
    conn = duckdb.connect(path, read_only=True)
    try:
        blocks = sorted({block for (block,) in conn.execute(
            "SELECT block_id FROM pragma_storage_info('candles') WHERE block_id >= 0").fetchall()})
        block_size = conn.execute("SELECT block_size FROM pragma_database_size()").fetchone()[0]
    finally:
        conn.close()
    return 3 * 4096 + blocks[len(blocks) // 2] * block_size + 4096


def test_random_bytes_in_the_middle_of_the_file_fail_doctor_naming_the_table(filled, tmp_path):
    _scribble(filled.path, offset=_candle_block_offset(filled.path), size=4096)
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 1, result.output
    assert f"warehouse {filled.path}: 1 problem(s)" in result.output
    assert "damaged_data: 1 (table candles: block" in result.output and "restore the warehouse file" in result.output
    export = CliRunner().invoke(main, ["export", "--symbol", "BTC/USDT", "--output", str(tmp_path / "out.csv"),
                                       "--format", "csv"])
    assert export.exit_code == 1 and export.exception.__class__ is SystemExit
    (line,) = error_lines(export)
    assert line.startswith(f"Error: warehouse {filled.path} is damaged (") and "Corrupt database file" in line


def test_random_bytes_before_the_end_fail_doctor_and_fix_rewrites_the_file(filled, emulator):
    _scribble(filled.path, offset=Path(filled.path).stat().st_size - 8192, size=8192)
    sources = SourcesResource(emulator_url=emulator.url)
    with pytest.raises(WarehouseDamagedError, match="checksum"):  # issue 9: every write failed
        _store_day(filled, sources, "BTC/USDT", 5)
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 1, result.output
    assert "damaged_free_space: 1 (block" in result.output and "doctor --fix" in result.output
    fixed = CliRunner().invoke(main, ["doctor", "--fix"])
    assert fixed.exit_code == 0, fixed.output
    assert "rewrote the warehouse file" in fixed.output and "healthy" in fixed.output
    _store_day(filled, sources, "BTC/USDT", 5)
    with filled.connect(read_only=True) as conn:
        assert conn.sql("SELECT count(*), count(DISTINCT (symbol, ts)) FROM candles").fetchall() == [(12960, 12960)]


def test_a_file_cut_short_fails_doctor(filled):
    size = Path(filled.path).stat().st_size
    with open(filled.path, "r+b") as file:
        file.truncate(size - 300_000)
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 1 and "truncated_file: 1 (the file ends at byte" in result.output, result.output


def test_free_blocks_duckdb_truncated_off_the_end_are_no_damage(filled):
    """DuckDB cuts trailing free blocks off the file at a checkpoint but its header keeps counting them: a file
    shorter than its block count by free blocks only is healthy (a fresh fill's warehouse often is, between runs)."""
    with filled.connect() as conn:  # a large table's blocks at the end of the file, then freed
        conn.execute("CREATE TABLE scratch AS SELECT range AS i, random() AS r FROM range(2000000)")
        conn.execute("CHECKPOINT")
        conn.execute("DROP TABLE scratch")
        conn.execute("CHECKPOINT")
    with filled.connect(read_only=True) as conn:
        total, free, block_size = conn.sql("SELECT total_blocks, free_blocks, block_size FROM pragma_database_size()"
                                           ).fetchall()[0]
    written = (Path(filled.path).stat().st_size - 3 * 4096) // block_size
    assert written < total and total - written <= free  # the state doctor must read as healthy
    result = CliRunner().invoke(main, ["doctor"])
    assert (result.exit_code, result.output.strip().splitlines()[-1]) == (0, "warehouse healthy: no problems found")


def test_a_damaged_archive_file_fails_doctor_naming_it(filled):
    assert CliRunner().invoke(main, ["archive", "--before", "2024-04"]).exit_code == 0
    month = Path(filled.archive_path, "symbol=ETH%2FUSDT", "month=2024-03", "data.parquet")
    _scribble(str(month), offset=month.stat().st_size // 2, size=512)
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 1, result.output
    assert "archive_files: 1 (ETH/USDT 2024-03: file symbol=ETH%2FUSDT/month=2024-03/data.parquet damaged" in \
        result.output and "restore its files from a backup" in result.output
    status = CliRunner().invoke(main, ["export", "--symbol", "ETH/USDT", "--output", str(month.parent.parent / "x")])
    (line,) = error_lines(status)
    assert status.exit_code == 1 and "data.parquet" in line


def test_a_second_dataset_is_audited_at_its_own_cadence_and_fixed_without_touching_spot_candles(warehouse):
    """10:01 is on spot candles' 1m grid but not on the test bars' 5m one; the repeated 10:05 bar keeps its newest
    copy. Findings are named like the dataset's views."""
    from datafactory_assets.datasets import DATASETS
    from datafactory_assets.warehouse.integrity import fix_findings
    from datafactory_tests.helpers import add_dataset, five_minute_bars

    bars = five_minute_bars()
    datasets = {**DATASETS, bars.name: bars}
    with warehouse.connect() as conn:
        add_dataset(conn, bars)
        conn.execute("INSERT INTO symbols (symbol, timeframe_ms, start_ts) VALUES ('BTC/USDT', 60000, '2024-03-01')")
        for ts in ("2024-03-01 10:00:00", "2024-03-01 10:01:00", "2024-03-01 10:05:00", "2024-03-01 10:05:00"):
            conn.execute(f"INSERT INTO test_bars VALUES ({ROW.format(ts=ts)})")
        conn.execute(f"INSERT INTO candles VALUES ({ROW.format(ts='2024-03-01 10:01:00')})")
        found = [(f.check, f.count) for f in find_problems(conn, datasets=datasets)]
        said = fix_findings(conn, datasets=datasets)
        left = conn.sql("SELECT (SELECT count(*) FROM test_bars), (SELECT count(*) FROM candles)").fetchall()
        again = find_problems(conn, datasets=datasets)
    assert found == [("test_bars_duplicate_candles", 1), ("test_bars_misaligned_timestamp", 1)]
    assert (said, left, again) == ("removed 2 row(s)", [(2, 1)], [])


def test_funding_events_are_audited_on_their_own_interval_and_the_newest_is_never_still_open(warehouse, emulator):
    """The newest stored funding event (an instant, not a bar) is no finding; one off its 8 h interval is."""
    from datafactory_assets.datasets import DATASETS

    funding = DATASETS["funding_rates"]
    symbol = symbol_settings("BTC/USDT:USDT", start=datetime(2024, 3, 1, tzinfo=UTC))
    newest = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    ingest_window(symbol, start=newest - timedelta(hours=23), end=newest + timedelta(hours=1), dataset=funding,
                  sources=SourcesResource(emulator_url=emulator.url), warehouse=warehouse)
    with warehouse.connect() as conn:
        assert conn.sql("SELECT count(*) FROM funding_rates").fetchall() == [(3,)]
        assert find_problems(conn) == []
        conn.execute("UPDATE funding_rates SET ts = ts + INTERVAL 4 HOUR "
                     "WHERE ts = (SELECT min(ts) FROM funding_rates)")
        assert [(f.check, f.count) for f in find_problems(conn)] == [("funding_rates_misaligned_timestamp", 1)]
