"""Our lock beside the warehouse: a process opening the file as another closes it must not undo the other's writes.

DuckDB 2.0 reads the file's headers before taking its own lock. The race that opens is microseconds wide, so the
test widens it the way a loaded machine does: the opener runs under strace with every lock call on the warehouse
file delayed by 2 s. Without our lock the opener reads the headers while the writer still holds the file, gets
DuckDB's lock after the writer closed, and its commit silently drops the writer's candles (checked by removing
`hold` from `WarehouseResource.connect`).
"""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from datafactory_assets.warehouse import WarehouseLockedError
from datafactory_assets.warehouse.file_lock import hold, lock_path
from datafactory_tests.helpers import read_only_mount_missing, run_on_read_only

STRACE = shutil.which("strace")


def _strace_can_trace() -> bool:
    return STRACE is not None and subprocess.run([STRACE, "-o", "/dev/null", "true"]).returncode == 0


# Writes one candle of `symbol` at 2024-03-01 00:00 when told "go" on stdin; says "ready" once imported and
# "holding" once its connection is open (the writer keeps it open until told "close").
WRITE_ONE = """
import sys
from datafactory_assets.warehouse import WarehouseResource
path, symbol, hold_open = sys.argv[1], sys.argv[2], sys.argv[3] == "hold"
warehouse = WarehouseResource(path=path)
print("ready", flush=True)
sys.stdin.readline()
with warehouse.connect() as conn:
    conn.execute("INSERT INTO candles VALUES (?, TIMESTAMP '2024-03-01 00:00', 1, 2, 0.5, 1.5, 3, 'test', now())",
                 [symbol])
    if hold_open:
        print("holding", flush=True)
        sys.stdin.readline()
print("done", flush=True)
"""


def _start(args: list[str]) -> subprocess.Popen:
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _say(proc: subprocess.Popen, line: str) -> None:
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


@pytest.mark.skipif(not _strace_can_trace(), reason="needs strace (Debian package `strace`) allowed to trace")
def test_opening_as_another_process_closes_keeps_both_writes(warehouse):
    with warehouse.connect():
        pass  # the schema exists before the race
    writer = _start([sys.executable, "-c", WRITE_ONE, warehouse.path, "AAA/USDT", "hold"])
    _say(writer, "go")
    assert writer.stdout.readline().strip() == "holding"
    opener = _start([STRACE, "-f", "-qq", "-o", "/dev/null", "-P", warehouse.path, "-e", "trace=fcntl",
                     "-e", "inject=fcntl:delay_enter=2000000",
                     sys.executable, "-c", WRITE_ONE, warehouse.path, "BBB/USDT", "once"])
    _say(opener, "go")
    time.sleep(0.5)  # the opener is now waiting, with or without the headers already read
    _say(writer, "close")
    assert writer.stdout.readline().strip() == "done"
    assert opener.stdout.readline().strip() == "done"
    assert writer.wait(10) == 0 and opener.wait(10) == 0
    with warehouse.connect(read_only=True) as conn:
        assert conn.sql("SELECT symbol FROM candles ORDER BY symbol").fetchall() == [("AAA/USDT",), ("BBB/USDT",)]


def test_a_writer_killed_while_it_holds_the_lock_does_not_block_the_next(warehouse):
    """flock belongs to the open file, which the kernel closes when the process dies: no slot to give back."""
    with warehouse.connect():
        pass
    writer = _start([sys.executable, "-c", WRITE_ONE, warehouse.path, "AAA/USDT", "hold"])
    _say(writer, "go")
    assert writer.stdout.readline().strip() == "holding"  # its candle committed, the lock and the file still held
    writer.kill()
    assert writer.wait(10) == -signal.SIGKILL
    impatient = warehouse.model_copy(update={"lock_timeout_s": 2})
    with impatient.connect() as conn:
        conn.execute("INSERT INTO candles VALUES ('BBB/USDT', TIMESTAMP '2024-03-01 00:00', 1, 2, 0.5, 1.5, 3, "
                     "'test', now())")
    with impatient.connect(read_only=True) as conn:
        assert conn.sql("SELECT symbol FROM candles ORDER BY symbol").fetchall() == [("AAA/USDT",), ("BBB/USDT",)]


def test_readers_share_the_lock_and_a_writer_waits_for_them(tmp_path):
    database = tmp_path / "w.duckdb"
    entered = []

    def take(name: str, *, shared: bool) -> threading.Thread:
        def run() -> None:
            with hold(database, shared=shared, timeout_s=10):
                entered.append(name)
        thread = threading.Thread(target=run)
        thread.start()
        return thread

    with hold(database, shared=True, timeout_s=1):
        with hold(database, shared=True, timeout_s=1):  # re-entrant in one thread
            writer = take("writer", shared=False)
            reader = take("reader", shared=True)
            reader.join(5)
            time.sleep(0.3)
            assert entered == ["reader"]
    writer.join(5)
    assert entered == ["reader", "writer"]


def _write_in_a_thread(database, *, timeout_s: float) -> list[str]:
    """What a writer in another thread of this process met: ["held"], or the error's message."""
    outcome = []

    def write() -> None:
        try:
            with hold(database, shared=False, timeout_s=timeout_s):
                outcome.append("held")
        except WarehouseLockedError as exc:
            outcome.append(str(exc))

    writer = threading.Thread(target=write)
    writer.start()
    writer.join(20)
    return outcome


def test_a_writer_held_too_long_fails_with_a_clear_error(tmp_path):
    database = tmp_path / "w.duckdb"
    with hold(database, shared=True, timeout_s=1):
        failures = _write_in_a_thread(database, timeout_s=0.3)
    assert len(failures) == 1 and "stayed locked by another process for 0s ([Errno 11]" in failures[0]
    assert "try again when it has finished" in failures[0] and "\n" not in failures[0]


def test_asking_to_write_inside_a_read_only_hold_is_refused(tmp_path):
    database = tmp_path / "w.duckdb"
    with hold(database, shared=True, timeout_s=1):
        with pytest.raises(RuntimeError, match="holds a read-only connection"):
            with hold(database, shared=False, timeout_s=1):
                pass


# Takes `hold` in the mode asked for (0.5 s at most) and says what happened, in one line.
HOLD = """
import sys
from pathlib import Path
from datafactory_assets.warehouse import WarehouseLockedError, WarehouseReadOnlyError
from datafactory_assets.warehouse.file_lock import hold
try:
    with hold(Path(sys.argv[1]), shared=sys.argv[2] == "shared", timeout_s=0.5):
        print("held")
except (WarehouseLockedError, WarehouseReadOnlyError) as exc:
    print(type(exc).__name__, exc)
"""


def _hold_on_read_only(database, mode: str) -> str:
    done = run_on_read_only(database.parent, [sys.executable, "-c", HOLD, str(database), mode], timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(read_only_mount_missing() is not None, reason=str(read_only_mount_missing()))
def test_on_a_read_only_volume_readers_hold_the_lock_file_read_only_and_writers_are_told(tmp_path):
    database = tmp_path / "w.duckdb"
    with hold(database, shared=False, timeout_s=1):  # the lock file exists; a writer holds it
        assert _hold_on_read_only(database, "shared").startswith("WarehouseLockedError")
    assert _hold_on_read_only(database, "shared") == "held"
    refused = _hold_on_read_only(database, "exclusive")
    assert refused.startswith("WarehouseReadOnlyError [Errno 30] warehouse ") and "Read-only file system" in refused


@pytest.mark.skipif(read_only_mount_missing() is not None, reason=str(read_only_mount_missing()))
def test_on_a_read_only_volume_without_a_lock_file_readers_read_without_one(tmp_path):
    database = tmp_path / "w.duckdb"
    assert _hold_on_read_only(database, "shared") == "held"
    assert not lock_path(database).exists()


def _waiters() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "warehouse-lock-waiter"]


def _open_on(path) -> int:
    """How many descriptors of this process are open on `path`."""
    opened = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            opened += os.readlink(f"/proc/self/fd/{fd}") == str(path)
        except FileNotFoundError:  # the descriptor listing the directory, closed since
            pass
    return opened


def _lock_is_free(database) -> bool:
    """Whether a writer gets the lock at once (a zero timeout tries once, without waiting)."""
    try:
        with hold(database, shared=False, timeout_s=0):
            return True
    except WarehouseLockedError:
        return False


def test_a_waiting_thread_gets_the_lock_when_the_holder_releases(tmp_path):
    database = tmp_path / "w.duckdb"
    entered = []

    def write() -> None:
        with hold(database, shared=False, timeout_s=60):
            entered.append("writer")

    with hold(database, shared=False, timeout_s=1):
        writer = threading.Thread(target=write)
        writer.start()
        deadline = time.monotonic() + 20
        while not _waiters() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _waiters() and entered == []  # blocked in the kernel, in a thread of its own
    writer.join(20)
    assert entered == ["writer"]
    assert _lock_is_free(database)


# Waits for `hold` in the mode asked for (a minute at most), says "held" and keeps it until told on stdin.
WAIT_AND_HOLD = """
import sys
from pathlib import Path
from datafactory_assets.warehouse.file_lock import hold
print("ready", flush=True)
with hold(Path(sys.argv[1]), shared=sys.argv[2] == "shared", timeout_s=60):
    print("held", flush=True)
    sys.stdin.readline()
"""


def _asleep_on_the_lock(pid: int) -> bool:
    """Whether a thread of process `pid` sleeps in the kernel's wait for a file lock (not polling it)."""
    tasks = f"/proc/{pid}/task"
    return any("lock_inode_wait" in open(f"{tasks}/{task}/wchan").read() for task in os.listdir(tasks))


@pytest.mark.skipif(not os.path.exists("/proc/self/wchan"), reason="needs Linux's /proc/<pid>/wchan")
def test_waiting_processes_sleep_in_the_kernel_and_readers_get_the_lock_together_when_released(tmp_path):
    """Fails with a polling waiter: between its tries it sleeps in Python, never in the kernel's lock wait."""
    database = tmp_path / "w.duckdb"
    with hold(database, shared=False, timeout_s=1):
        readers = [_start([sys.executable, "-c", WAIT_AND_HOLD, str(database), "shared"]) for _ in range(2)]
        deadline = time.monotonic() + 30
        while not all(map(_asleep_on_the_lock, (r.pid for r in readers))) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(_asleep_on_the_lock(reader.pid) for reader in readers)
    assert [reader.stdout.readline().strip() for reader in readers] == ["held", "held"]  # both hold it at once
    assert not _lock_is_free(database)
    for reader in readers:
        _say(reader, "done")
        assert reader.wait(20) == 0
    assert _lock_is_free(database)


def test_a_timed_out_waiter_neither_holds_nor_leaks_the_lock(tmp_path):
    database = tmp_path / "w.duckdb"
    assert _open_on(lock_path(database)) == 0
    with hold(database, shared=False, timeout_s=1):
        assert _write_in_a_thread(database, timeout_s=0.2)[0].startswith("warehouse ")  # gave up
        abandoned = _waiters()  # still blocked on a descriptor of its own
        assert abandoned
    for thread in abandoned:
        thread.join(20)  # got the lock when the holder let go, and released it at once
        assert not thread.is_alive()
    assert _lock_is_free(database)
    assert _open_on(lock_path(database)) == 0


def test_giving_up_as_the_holder_releases_never_leaves_the_lock_held(tmp_path):
    """The hand-over and the giving up race when the holder lets go just as the waiter's timeout ends; whichever
    wins, the lock ends up free and no descriptor is left open."""
    database = tmp_path / "w.duckdb"
    assert _open_on(lock_path(database)) == 0
    outcomes = set()
    for i in range(40):
        holding, release = threading.Event(), threading.Event()

        def keep() -> None:
            with hold(database, shared=False, timeout_s=1):
                holding.set()
                release.wait(10)

        holder = threading.Thread(target=keep)
        holder.start()
        assert holding.wait(10)
        threading.Timer(0.01 + 0.0005 * i, release.set).start()  # from before to after the waiter's timeout
        try:
            with hold(database, shared=False, timeout_s=0.02):
                outcomes.add("held")
        except WarehouseLockedError:
            outcomes.add("gave up")
        holder.join(10)
    for thread in _waiters():
        thread.join(20)
    assert _lock_is_free(database)
    assert _open_on(lock_path(database)) == 0
    assert outcomes  # which of the two happened depends on the machine's load; both must end the same
