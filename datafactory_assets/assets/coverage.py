"""The materialized coverage asset: the seed's Data Coverage Status table, recorded each hour so it plots over time.

It shows what `datafactory status` shows (both read `queries.coverage_of_every_dataset` with the configured
symbols): per symbol and dataset, completeness from its configured start or listing to the last closed hour, and the
slots not held split into missing (asked, not served) and not yet fetched, so a history still filling never reads
as complete."""

from dataclasses import asdict
from datetime import UTC, datetime

import dagster as dg
import polars as pl

from datafactory_assets.assets.candles import dataset_keys
from datafactory_assets.datasets import SPOT_CANDLES
from datafactory_assets.settings import Settings
from datafactory_assets.warehouse import WarehouseResource
from datafactory_assets.warehouse import queries

COVERAGE_KEY = dg.AssetKey("coverage")
_COLUMNS = ("symbol", "dataset", "counted_from", "from_ts", "expected", "rows", "confirmed_empty", "missing",
            "not_fetched",
            "completeness_pct", "last_ts", "latest_source", "note")


def markdown_table(frame: pl.DataFrame, columns: tuple[str, ...]) -> str:
    """`columns` of the frame as a Markdown table, as the Dagster UI renders it."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in frame.select(columns).iter_rows():
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def coverage_metadata(frame: pl.DataFrame) -> dict:
    """The table, the universe's totals, and one number per symbol and measure, so the UI plots each across
    materializations."""
    total = queries.Completeness.of(frame)
    metadata: dict = {"coverage": dg.MetadataValue.md(markdown_table(frame, _COLUMNS)),
                      "symbols": frame["symbol"].n_unique() if frame.height else 0,
                      **asdict(total), "completeness_pct": total.pct,
                      "summary": total.summary(queries.unit_of(frame))}
    if frame.height:
        metadata["until"] = dg.MetadataValue.timestamp(frame["until_ts"].max().replace(tzinfo=UTC).timestamp())
    for row in frame.iter_rows(named=True):
        # spot candles keep the names they had before datasets, so their plots go on; another dataset is prefixed
        name = row["symbol"].replace("/", "_").lower()
        name = name if row.get("dataset", SPOT_CANDLES.name) == SPOT_CANDLES.name else f"{row['dataset']}/{name}"
        metadata[f"{name}/completeness_pct"] = float(row["completeness_pct"])
        metadata.update({f"{name}/{c}": int(row[c]) for c in ("confirmed_empty", "missing", "not_fetched")})
        if row["last_ts"]:
            metadata[f"{name}/last_ts"] = dg.MetadataValue.timestamp(row["last_ts"].replace(tzinfo=UTC).timestamp())
    return metadata


def build_coverage_asset(settings: Settings) -> dg.AssetsDefinition:
    """Depends on every candle asset; reads the warehouse under its lock (`WarehouseResource.connect`)."""
    candle_keys = [key for s in settings.symbols for key in dataset_keys(s)]

    @dg.asset(key=COVERAGE_KEY, deps=candle_keys, group_name="monitoring", kinds={"duckdb"},
              description="Per symbol, from its configured start (or listing) to the last closed hour: candles "
                          "expected, stored, confirmed empty, missing (asked, not served) and not yet fetched; "
                          "completeness.")
    def coverage(warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.connect() as conn:
            frame = queries.coverage_of_every_dataset(conn, settings.symbols)
        return dg.MaterializeResult(metadata=coverage_metadata(frame))

    return coverage


def _cell(value) -> str:
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    return "" if value is None else str(value)
