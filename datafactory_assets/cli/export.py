"""`datafactory export`: one symbol's stored data written to files freqtrade and pandas load as they are."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from datafactory_assets.cli.connect import connect
from datafactory_assets.cli.options import parse_moment
from datafactory_assets.cli.output import say
from datafactory_assets.settings import load_settings
from datafactory_assets.warehouse import WarehouseLockedError


@click.command()
@click.option("--symbol", required=True, help="The symbol to export: BTC/USDT, or a perpetual (BTC/USDT:USDT) with "
              "--trading-mode futures.")
@click.option("--trading-mode", type=click.Choice(["spot", "futures"]), default="spot", show_default=True,
              help="futures: a perpetual's futures, mark and funding data in freqtrade's futures layout under --dir.")
@click.option("--timeframe", "timeframes", multiple=True,
              help="The symbol's base timeframe (the default), 1h or 1d; with futures, repeat it for several.")
@click.option("--candle-type", "candle_types", multiple=True, help="futures only, repeatable: futures, mark, index, "
              "premiumIndex, funding_rate (default: futures candles, 1h mark candles and funding rates, as freqtrade's "
              "download-data).")
@click.option("--start", help="First open time, UTC: 2025-01-01 or 2025-01-01T05:00 (default: the first candle).")
@click.option("--end", help="End of the window, exclusive, UTC: 2025-02-01 or 2025-01-31T18:00 (default: none).")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv", "feather", "json"]),
              help="spot: parquet (the default) or csv; futures: feather (the default, freqtrade's), parquet or json.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="spot: file to write (default: data/exports/<base>_<quote>-<timeframe>.<ext> beside the config).")
@click.option("--dir", "datadir", type=click.Path(file_okay=False, path_type=Path),
              help="futures: freqtrade's data directory, such as user_data/data/binance (default: "
                   "data/exports/freqtrade beside the config); the files go to its futures/ folder.")
@click.option("--overwrite", is_flag=True, help="Replace files that already exist.")
def export(symbol: str, trading_mode: str, timeframes: tuple[str, ...], candle_types: tuple[str, ...],
           start: str | None, end: str | None, fmt: str | None, output: Path | None, datadir: Path | None,
           overwrite: bool) -> None:
    """Write one symbol's data with open time in [start, end) to files freqtrade and pandas load as they are: one
    file of spot candles, or a perpetual's files in freqtrade's futures layout."""
    first, last = parse_moment(start, "--start"), parse_moment(end, "--end")
    futures = trading_mode == "futures"
    refused = [f"{option} is for --trading-mode {mode}" for option, given, mode in [
        ("--output", output, "spot"), ("--dir", datadir, "futures"), ("--candle-type", candle_types, "futures"),
        ("--format csv", fmt == "csv", "spot"), (f"--format {fmt}", fmt in ("feather", "json"), "futures"),
        ("more than one --timeframe", len(timeframes) > 1, "futures")] if given and futures != (mode == "futures")]
    if refused:
        why = ("a futures export writes freqtrade's files under --dir" if futures else
               "a spot export writes one file; --trading-mode futures writes freqtrade's futures layout")
        raise click.UsageError(f"{'; '.join(refused)} ({why})")
    try:
        settings = load_settings()
        exports_dir = settings.config_path.parent / "data" / "exports"
        with connect(settings.warehouse_path, read_only=True) as conn:
            if futures:
                lines = _export_futures(conn, symbol=symbol, datadir=datadir or exports_dir / "freqtrade",
                                        timeframes=timeframes, candle_types=candle_types, start=first, end=last,
                                        fmt=fmt or "feather", overwrite=overwrite)
            else:
                lines = [_export_spot(conn, symbol=symbol, timeframe=next(iter(timeframes), None), start=first,
                                      end=last, fmt=fmt or "parquet", path=output, exports_dir=exports_dir,
                                      overwrite=overwrite)]
    except (FileNotFoundError, FileExistsError, ValueError, WarehouseLockedError) as exc:
        raise click.ClickException(str(exc)) from exc
    for line in lines:
        say(line)


def _export_spot(conn, *, symbol: str, timeframe: str | None, start: datetime | None, end: datetime | None,
                 fmt: str, path: Path | None, exports_dir: Path, overwrite: bool) -> str:
    from datafactory_assets.warehouse import export as exports

    timeframe = timeframe or exports.base_timeframe(conn, symbol)
    path = path or exports_dir / exports.default_filename(symbol, timeframe, fmt)
    rows = exports.export_candles(conn, symbol=symbol, timeframe=timeframe, start=start, end=end, path=path,
                                  fmt=fmt, overwrite=overwrite)
    return f"wrote {rows} {symbol} {timeframe} candle(s) to {path}"


def _export_futures(conn, *, symbol: str, datadir: Path, timeframes: tuple[str, ...], candle_types: tuple[str, ...],
                    start: datetime | None, end: datetime | None, fmt: str, overwrite: bool) -> list[str]:
    from datafactory_assets.warehouse.freqtrade_futures import export_futures

    written = export_futures(conn, symbol=symbol, datadir=datadir, timeframes=timeframes, candle_types=candle_types,
                             start=start, end=end, fmt=fmt, overwrite=overwrite)
    return [*(f"wrote {w.rows} {symbol} {w.candle_type} {w.timeframe} row(s) to {w.path}" for w in written),
            f"freqtrade reads them with: --trading-mode futures --datadir {datadir} --data-format-ohlcv {fmt}"]

