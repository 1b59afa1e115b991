"""The materialized coverage asset: the seed's Data Coverage Status table, recorded each hour so it plots over time."""

from datetime import datetime

import dagster as dg
import polars as pl

from datafactory_assets.assets.candles import candle_key
from datafactory_assets.settings import Settings
from datafactory_assets.warehouse import WarehouseResource
from datafactory_assets.warehouse import queries

COVERAGE_KEY = dg.AssetKey("coverage")
_COLUMNS = ("symbol", "first_ts", "last_ts", "rows", "expected", "completeness_pct", "open_gaps", "missing",
            "confirmed_holes", "latest_source")


def markdown_table(frame: pl.DataFrame, columns: tuple[str, ...]) -> str:
    """`columns` of the frame as a Markdown table, as the Dagster UI renders it."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in frame.select(columns).iter_rows():
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def coverage_metadata(frame: pl.DataFrame) -> dict:
    """The table, plus one number per symbol and measure, so the UI plots each across materializations."""
    metadata: dict = {"coverage": dg.MetadataValue.md(markdown_table(frame, _COLUMNS)), "symbols": frame.height,
                      "rows": int(frame["rows"].sum()) if frame.height else 0}
    for row in frame.iter_rows(named=True):
        name = row["symbol"].replace("/", "_").lower()
        metadata[f"{name}/completeness_pct"] = float(row["completeness_pct"])
        metadata[f"{name}/open_gaps"] = int(row["open_gaps"])
        metadata[f"{name}/missing"] = int(row["missing"])
        metadata[f"{name}/confirmed_holes"] = int(row["confirmed_holes"])
        metadata[f"{name}/last_ts"] = dg.MetadataValue.timestamp(row["last_ts"].timestamp()) if row[
            "last_ts"] else None
    return {k: v for k, v in metadata.items() if v is not None}


def build_coverage_asset(settings: Settings) -> dg.AssetsDefinition:
    """Depends on every candle asset; reads the warehouse under its lock (`WarehouseResource.connect`)."""
    candle_keys = [candle_key(s) for s in settings.symbols]

    @dg.asset(key=COVERAGE_KEY, deps=candle_keys, group_name="monitoring", kinds={"duckdb"},
              description="Per symbol: first and latest candle, rows, expected, completeness, open gaps, "
                          "latest source.")
    def coverage(warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.connect() as conn:
            frame = queries.coverage(conn)
        return dg.MaterializeResult(metadata=coverage_metadata(frame))

    return coverage


def _cell(value) -> str:
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    return "" if value is None else str(value)
