"""The `datafactory` group: every command without Dagster where it only reads, and one line for a damaged
file or a read-only volume."""

import json
import random
import sys
from datetime import timedelta

import pytest
from click.testing import CliRunner

from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.cli import main
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse.file_lock import lock_path
from datafactory_tests.cli.helpers import START
from datafactory_tests.helpers import error_lines, read_only_mount_missing, run_on_read_only, symbol_settings


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
