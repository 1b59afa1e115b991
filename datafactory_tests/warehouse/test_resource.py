import subprocess
import sys
import time

import pytest

from datafactory_assets.warehouse import WarehouseLockedError, WarehouseResource

HOLD_LOCK = """
import duckdb, sys, time
conn = duckdb.connect(sys.argv[1])
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.close()
"""


def hold_lock(path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path), str(seconds)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_writer_waits_for_another_process_lock_then_proceeds(warehouse):
    with warehouse.connect():
        pass
    holder = hold_lock(warehouse.path, 1.5)
    began = time.monotonic()
    with warehouse.connect() as conn:
        assert conn.execute("SELECT count(*) FROM candles").fetchall() == [(0,)]
    assert time.monotonic() - began >= 0.5
    holder.wait()


def test_a_lock_held_too_long_fails_with_a_clear_error(tmp_path):
    patient = WarehouseResource(path=str(tmp_path / "w.duckdb"), lock_timeout_s=0.5)
    holder = hold_lock(patient.path, 5)
    try:
        with pytest.raises(WarehouseLockedError, match="stayed locked by another process"):
            with patient.connect():
                pass
    finally:
        holder.kill()


def test_read_only_on_a_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `datafactory init`"):
        with WarehouseResource(path=str(tmp_path / "none.duckdb")).connect(read_only=True):
            pass
