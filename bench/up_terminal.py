"""How much `datafactory up --offline` prints on its terminal while it fills the shipped universe's history, against
what its log files keep: lines per minute on the terminal, and lines in the files under DAGSTER_HOME, while healing
fills (the platform as a person starts it, in a temporary home and warehouse, stopped after --seconds).

    python bench/up_terminal.py [--seconds 180]

Prints one JSON line. The platform's subprocess runs whatever `datafactory_assets` PYTHONPATH names, so the same
script measures an older tree too (`git archive <rev> | tar -x -C DIR`, then PYTHONPATH=DIR).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import BIN, free_port, stop  # noqa: E402


def count_lines(home: Path) -> dict[str, int]:
    """Lines in every file of the home's log directories (ours and Dagster's telemetry queue)."""
    return {str(p.relative_to(home)): len(p.read_text(errors="replace").splitlines())
            for folder in ("platform-logs", "logs", ".logs_queue") for p in sorted((home / folder).glob("*"))
            if p.is_file()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "DAGSTER_HOME": str(work / "home"), "DATAFACTORY_WAREHOUSE": str(work / "offline.duckdb")}
        env.pop("DATAFACTORY_EMULATOR_URL", None)
        terminal = open(work / "terminal.log", "w")  # noqa: SIM115 - closed below
        proc = subprocess.Popen([str(BIN / "datafactory"), "up", "--offline", "--port", str(free_port())], env=env,
                                stdout=terminal, stderr=subprocess.STDOUT, start_new_session=True)
        began = time.monotonic()
        try:
            time.sleep(args.seconds)
            lines = (work / "terminal.log").read_text(errors="replace").splitlines()
            files = count_lines(work / "home")
        finally:
            stop(proc)
            terminal.close()
        minutes = (time.monotonic() - began) / 60
        history = [line for line in lines if line.startswith("history: ")]
        print(json.dumps({
            "seconds": args.seconds, "terminal_lines": len(lines),
            "terminal_lines_per_minute": round(len(lines) / (args.seconds / 60), 1),
            "terminal_debug_lines": sum(" - DEBUG - " in line for line in lines),
            "log_file_lines": files, "last_history_line": history[-1] if history else None,
            "wall_minutes": round(minutes, 2)}))


if __name__ == "__main__":
    main()
