"""What of the platform's output a person at the terminal of `datafactory up` sees; the log files keep all of it.

Shown: lines before Dagster's first log line (our start-up lines), the webserver's URL, and every line at WARNING or
above (run failures are ERROR events), with the lines that continue them (tracebacks, multi-line messages). Not
shown: INFO and DEBUG lines (the daemon's ticks, a run's events, one per partition and step), and warnings that ask
nothing of a person. The run workers' per-partition DEBUG events no longer reach the output at all (the instance's
`python_logs.python_log_level`, see instance/dagster.yaml); they stay in Dagster's event log.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable

HEADER = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} - \S+ - (?P<level>[A-Z]+) - (?P<message>.*)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
SHOWN_LEVELS = {"WARNING", "ERROR", "CRITICAL"}
ALWAYS_SHOWN = ("Serving dagster-webserver on",)
# Dagster's automation sensor falls back to the tick's timestamp when over 100 partitions of an asset changed since
# its last tick (declarative_automation/operands/operands.py, NewlyUpdatedCondition), which every backfill or
# healing fill of the candles does; the rollups are still requested, so nothing needs a person.
QUIET_WARNINGS = ("for per-partition timestamp fetching. Using tick timestamp as fallback.",)
# Python warnings `dagster dev` prints before its first log line, with the source line that follows each: Dagster
# 1.13 marks the `dagster dev` command superseded by `dg dev` (dagster/_cli/dev.py), which `datafactory up` runs on
# purpose (a `dg` project would pick its own workspace); a person starting the platform can do nothing about it.
QUIET_PYTHON_WARNINGS = re.compile(r"SupersessionWarning: Function `dev_command` is superseded")


class SigintSeen:
    """Whether Ctrl-C has reached this process, known in every thread the moment the kernel delivers it.

    The terminal sends SIGINT to `dagster dev`'s run workers as well, and they print their interrupted runs' stack
    traces at once; Python runs our handler (KeyboardInterrupt) only in the main thread, between its waits, so the log
    thread used to echo some 300 of those lines before `datafactory up` knew it was stopping. Python's C-level handler
    writes the signal's number to the wakeup fd as the signal arrives, whichever thread it interrupts: the log thread
    reads it there before it shows a line. Create it in the main thread (`signal.set_wakeup_fd` requires that).
    """

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        for fd in (self._read, self._write):
            os.set_blocking(fd, False)
        self._previous = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        self._seen = False

    def __call__(self) -> bool:
        if not self._seen:
            try:
                self._seen = signal.SIGINT in os.read(self._read, 512)
            except BlockingIOError:  # no signal since the last look
                pass
        return self._seen

    def close(self) -> None:
        """Give the wakeup fd back to whoever had it before."""
        signal.set_wakeup_fd(self._previous)
        os.close(self._read)
        os.close(self._write)


class TerminalFilter:
    """Decides line by line; a line without Dagster's header continues the last line that had one. `interrupted`,
    when given, tells from any thread that Ctrl-C arrived (`SigintSeen`): nothing is shown from then on."""

    def __init__(self, interrupted: Callable[[], bool] = lambda: False) -> None:
        self._showing = True
        self._in_warning = False  # inside a quiet Python warning (QUIET_PYTHON_WARNINGS) and its source line
        self._stopping = False
        self._interrupted = interrupted

    def stop_showing(self) -> None:
        """From now on every line goes to the log file only: after Ctrl-C, `dagster dev` reports each run it
        interrupted as a failure with a stack trace, and the daemon each run it could no longer launch (a fresh
        fill stopped mid-way printed about a hundred such lines); the person asked for that and reads one line."""
        self._stopping = True

    def __call__(self, line: str) -> bool:
        if self._stopping or self._interrupted():
            self._stopping = True
            return False
        header = HEADER.match(ANSI.sub("", line))
        if header is not None:
            message = header["message"]
            self._showing = (message.startswith(ALWAYS_SHOWN) or header["level"] in SHOWN_LEVELS
                             and not message.endswith(QUIET_WARNINGS))
        elif QUIET_PYTHON_WARNINGS.search(line):
            self._showing, self._in_warning = False, True
        elif self._in_warning and not line[:1].isspace():  # the warning's indented source line ended
            self._showing = True
        self._in_warning = self._in_warning and header is None and not self._showing
        return self._showing
