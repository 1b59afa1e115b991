"""The warehouse file attached to a kept DuckDB instance per session: each session still opens and closes the file
(checkpointed, DuckDB's lock released) inside our lock, and overlapping sessions of one process share it."""

import multiprocessing
import subprocess
import sys
import threading
from pathlib import Path

import pytest

# Opens the file with a DuckDB of its own, read-write (refused while another process has it open), and prints the
# symbols stored.
OUTSIDE = """
import duckdb, sys
conn = duckdb.connect(sys.argv[1])
print(",".join(row[0] for row in conn.sql("SELECT symbol FROM candles ORDER BY symbol").fetchall()))
"""


def _insert(conn, symbol: str) -> None:
    conn.execute("INSERT INTO candles VALUES (?, TIMESTAMP '2024-03-01 00:00', 1, 2, 0.5, 1.5, 3, 'test', now())",
                 [symbol])


def _outside(path: str) -> str:
    """What another process finds in the file; it can open it only once our session has closed it."""
    done = subprocess.run([sys.executable, "-c", OUTSIDE, path], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_session_closes_the_file_at_its_end_with_its_writes_checkpointed(warehouse):
    with warehouse.connect() as conn:
        _insert(conn, "AAA/USDT")
        assert conn.sql("SELECT current_database()").fetchall() == [("warehouse",)]
    assert not Path(warehouse.path + ".wal").exists()
    assert _outside(warehouse.path) == "AAA/USDT"
    with warehouse.connect(read_only=True) as conn:  # attached again, read-only
        assert conn.sql("SELECT symbol FROM candles").fetchall() == [("AAA/USDT",)]


def test_a_failed_session_leaves_nothing_of_its_transaction_and_the_next_one_works(warehouse):
    with pytest.raises(ZeroDivisionError):
        with warehouse.connect() as conn:
            conn.execute("BEGIN")
            _insert(conn, "AAA/USDT")
            1 / 0
    with warehouse.connect() as conn:
        assert conn.sql("SELECT count(*) FROM candles").fetchall() == [(0,)]
        _insert(conn, "BBB/USDT")
    assert _outside(warehouse.path) == "BBB/USDT"


def test_readers_in_two_threads_share_the_file_and_the_last_one_out_closes_it(warehouse):
    with warehouse.connect() as conn:
        _insert(conn, "AAA/USDT")
    both_in = threading.Barrier(2, timeout=20)
    first_out = threading.Event()
    seen = []

    def read(*, leave_first: bool) -> None:
        with warehouse.connect(read_only=True) as conn:
            both_in.wait()
            if not leave_first:
                assert first_out.wait(20)  # the other has left; the file must still be attached for this one
            seen.append(conn.sql("SELECT symbol FROM candles").fetchall())
        if leave_first:
            first_out.set()

    threads = [threading.Thread(target=read, kwargs={"leave_first": first}) for first in (True, False)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert seen == [[("AAA/USDT",)]] * 2
    assert _outside(warehouse.path) == "AAA/USDT"


def test_a_session_nested_in_a_writers_shares_its_attachment(warehouse):
    with warehouse.connect() as writer:
        _insert(writer, "AAA/USDT")
        with warehouse.connect(read_only=True) as reader:
            assert reader.sql("SELECT symbol FROM candles").fetchall() == [("AAA/USDT",)]
        _insert(writer, "BBB/USDT")  # the nested session's end left the file attached
    assert _outside(warehouse.path) == "AAA/USDT,BBB/USDT"


def _write_in_child(warehouse, symbol: str) -> None:
    with warehouse.connect() as conn:
        _insert(conn, symbol)


def test_a_forked_child_opens_the_file_with_an_instance_of_its_own(warehouse):
    with warehouse.connect() as conn:  # this process now keeps an instance
        _insert(conn, "AAA/USDT")
    child = multiprocessing.get_context("fork").Process(target=_write_in_child, args=(warehouse, "BBB/USDT"))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    with warehouse.connect(read_only=True) as conn:
        assert conn.sql("SELECT symbol FROM candles ORDER BY symbol").fetchall() == [("AAA/USDT",), ("BBB/USDT",)]
