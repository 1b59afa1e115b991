"""Small builders the tests share."""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from datafactory_assets.settings import SymbolSettings


def five_minute_bars():
    """A test-only OHLCV dataset at a fixed 5m cadence in its own table `test_bars` (the candles table's columns):
    what a second dataset gets from its declaration alone, beside spot candles."""
    from datafactory_assets.checks.validation import validate_candles
    from datafactory_assets.datasets import Cadence, Dataset
    from datafactory_assets.frames import CANDLE_SCHEMA, PRICE_COLUMNS

    return Dataset(name="test_bars", table="test_bars", schema=CANDLE_SCHEMA, keys=("symbol", "ts"),
                   values=(*PRICE_COLUMNS, "volume"), cadence=Cadence(fixed="5m"), validate=validate_candles,
                   venues={})


def add_dataset(conn, dataset) -> None:
    """Create the dataset's table (the candles table's columns) and its generated views on a current warehouse."""
    from datafactory_assets.warehouse.views import create_views

    conn.execute(f"CREATE TABLE {dataset.table} AS SELECT * FROM candles LIMIT 0")
    create_views(conn, dataset)


def symbol_settings(symbol: str = "BTC/USDT", *, start: datetime = datetime(2024, 3, 1, tzinfo=UTC),
                    timeframe: str = "1m") -> SymbolSettings:
    return SymbolSettings(symbol=symbol, timeframe=timeframe, start=start, sources=("binance",))


def ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware or naive-UTC datetime."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def universe_config(*, start: str, top: int, more: str = "") -> str:
    """A datafactory.toml whose symbols are Binance's top `top` USDT pairs (from `start`, Binance only), plus `more`
    TOML after the `[universe]` table."""
    return (f'[defaults]\nstart = "{start}"\nsources = ["binance"]\n'
            f'[universe]\nvenue = "binance"\nquote = "USDT"\ntop = {top}\n{more}')


def read_only_mount_missing() -> str | None:
    """Why `run_on_read_only` cannot run here, or None when it can."""
    if shutil.which("unshare") is None:
        return "needs `unshare` (util-linux)"
    if subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True).returncode:
        return "needs the right to make a mount namespace (root or CAP_SYS_ADMIN) for a read-only bind mount"
    return None


def run_on_read_only(directory: Path, args: list[str], **kwargs) -> subprocess.CompletedProcess:
    """`args` run where `directory` is a read-only bind mount of itself: the kernel answers every write there with
    EROFS, root's included (chmod stops no root), and the mount lives in a private namespace that ends with the
    process, so nothing is left mounted."""
    script = 'd=$1; shift; mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" && exec "$@"'
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                           str(directory), *args], capture_output=True, text=True, **kwargs)


def as_schema_version_7(conn) -> None:
    """Turn a current warehouse back into what schema version 7 was (the coverage view from the first stored candle,
    no coverage macros), to test the upgrade and what readers of an older file say."""
    conn.execute("CREATE OR REPLACE VIEW coverage AS SELECT symbol, min(ts) AS first_ts FROM candles GROUP BY symbol; "
                 "DROP MACRO TABLE coverage_at; DROP MACRO candle_slots; DELETE FROM schema_version; "
                 "INSERT INTO schema_version (version) VALUES (7)")


def error_lines(result) -> list[str]:
    """What a CLI invocation said on stderr besides the `warehouse: <path>` line every warehouse command prints."""
    return [line for line in result.stderr.splitlines() if not line.startswith("warehouse: ")]


def open_hour_lasting(seconds: float) -> datetime:
    """The still-open hour, once at least `seconds` of it remain (waiting for the next hour when fewer do), so that a
    test naming it is not undone by the hour closing while it runs."""
    from datafactory_assets.hourly import HOUR, open_hour

    now = datetime.now(UTC)
    left = (open_hour(now) + HOUR - now).total_seconds()
    if left < seconds:
        time.sleep(left + 0.5)
    return open_hour()
