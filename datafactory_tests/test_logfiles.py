"""A child process's output rotates through a bounded set of log files, the newest lines in the live one."""

import io
import subprocess
import sys

import pytest

from datafactory_assets.logfiles import rotating_logger, tee_lines


def test_output_past_the_size_limit_rotates_and_keeps_n_backups(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "for i in range(2000): print(f'line {i:05d} ' + 'x' * 40)"],
                             stdout=subprocess.PIPE, text=True)
    echo = io.StringIO()
    tee_lines(child.stdout, tmp_path / "logs" / "dagster.log", echo=echo, max_bytes=10_000, backups=3).join(30)
    assert child.wait(10) == 0
    files = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert files == ["dagster.log", "dagster.log.1", "dagster.log.2", "dagster.log.3"]
    assert all((tmp_path / "logs" / name).stat().st_size <= 10_000 for name in files)
    assert (tmp_path / "logs" / "dagster.log").read_text().splitlines()[-1].startswith("line 01999 ")
    kept = "".join((tmp_path / "logs" / name).read_text() for name in reversed(files)).splitlines()
    assert kept == [f"line {i:05d} " + "x" * 40 for i in range(2000 - len(kept), 2000)]
    assert len(echo.getvalue().splitlines()) == 2000


def test_a_rotation_without_size_or_backups_is_refused(tmp_path):
    with pytest.raises(ValueError, match="positive size and backup count, got 0 bytes x 3"):
        rotating_logger(tmp_path / "x.log", max_bytes=0, backups=3)
