"""Which warehouse a command opens: the mode's, named on stderr, and one line when it is missing."""

from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.cli import main
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse import connection
from datafactory_tests.cli.helpers import START, run
from datafactory_tests.helpers import symbol_settings


def test_status_and_gaps_without_a_warehouse_say_what_to_do_in_one_line(cli_env):
    for command in ("status", "gaps"):
        result = CliRunner().invoke(main, [command])
        assert result.exit_code == 1 and "run `datafactory init`" in result.output
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


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
