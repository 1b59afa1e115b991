"""A child process's output rotates through a bounded set of log files, the newest lines in the live one."""

import io
import subprocess
import sys

import pytest

from datafactory_assets.logfiles import log_dir, rotating_logger, tee_lines


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


def test_every_line_goes_to_the_file_and_only_the_shown_ones_to_the_terminal(tmp_path):
    lines = ["start", "2026-12-05 18:23:50 +0000 - dagster - DEBUG - chatter",
             "2026-12-05 18:23:51 +0000 - x - ERROR - bad"]
    echo = io.StringIO()
    tee_lines(io.StringIO("".join(f"{line}\n" for line in lines)), tmp_path / "dagster.log", echo=echo,
              show=lambda line: "DEBUG" not in line).join(10)
    assert (tmp_path / "dagster.log").read_text().splitlines() == lines
    assert echo.getvalue().splitlines() == [lines[0], lines[2]]


def test_our_logs_survive_dagsters_telemetry_upload_which_takes_its_own_logs_dir(tmp_path, monkeypatch):
    """Dagster's webserver and daemon move DAGSTER_HOME/logs to .logs_queue, post its files and delete them, even
    with telemetry disabled in dagster.yaml; here the post goes to a closed local port."""
    from dagster._core.telemetry_upload import _upload_logs

    from datafactory_assets.launcher import free_port

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_TELEMETRY_URL", f"http://127.0.0.1:{free_port()}/actions")
    ours = log_dir(tmp_path) / "dagster.log"
    tee_lines(io.StringIO("kept\n"), ours).join(10)
    (tmp_path / "logs").mkdir(exist_ok=True)
    (tmp_path / ".logs_queue").mkdir()
    (tmp_path / "logs" / "event.log").write_text("{}\n")  # what Dagster's telemetry logger writes there

    _upload_logs(str(tmp_path / "logs"), 3, str(tmp_path / ".logs_queue"), raise_errors=False)

    assert not (tmp_path / "logs").exists() and (tmp_path / ".logs_queue" / "event.log").exists()
    assert ours.read_text() == "kept\n"
