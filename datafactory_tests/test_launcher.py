"""`datafactory up` reacts to Ctrl-C while it waits for `dagster dev`, whichever of its threads the signal reaches."""

import signal
import subprocess
import threading
import time

import pytest

from datafactory_assets.launcher import wait_interruptibly


def test_ctrl_c_caught_by_another_thread_interrupts_the_wait_at_once():
    """The kernel may hand a process's SIGINT to any of its threads; here a log thread takes it. A plain
    `Popen.wait()` stays blocked in waitpid until the child exits (60 s here), so the platform's shutdown noise
    reached the terminal before `datafactory up` knew it was stopping."""
    child = subprocess.Popen(["sleep", "60"])
    log_thread = threading.Thread(target=lambda: (time.sleep(0.5), signal.pthread_kill(threading.get_ident(),
                                                                                        signal.SIGINT)))
    began = time.monotonic()
    try:
        log_thread.start()
        with pytest.raises(KeyboardInterrupt):
            wait_interruptibly(child)
        assert time.monotonic() - began < 30  # the child would have run another minute
    finally:
        child.kill()
        child.wait()
        log_thread.join()
