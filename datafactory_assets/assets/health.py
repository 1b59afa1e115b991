"""The source_health asset: each source's hour (requests, success, latency, errors by kind, breaker) recorded once an
hour, so the UI plots every source's numbers over time next to the 24-hour table `datafactory health` prints."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl

from datafactory_assets.assets.coverage import markdown_table
from datafactory_assets.resilience import breaker_states
from datafactory_assets.settings import Settings
from datafactory_assets.sources.base import ErrorKind
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse import WarehouseResource
from datafactory_assets.warehouse import queries

SOURCE_HEALTH_KEY = dg.AssetKey("source_health")
_HOURLY = ("source", "requests", "success_pct", "p50_ms", "p95_ms", "max_ms", "errors", "error_classes", "breaker")
_DAILY = ("source", "requests", "success_pct", "p50_ms", "p95_ms", "max_ms", "errors", "last_error_class")


class SourceHealthConfig(dg.Config):
    """`hour` (UTC, `2025-03-01T10:00`) records that hour again; by default the last closed hour."""

    hour: str | None = None


def report_hour(text: str | None, now: datetime) -> datetime:
    """The hour to report, naive UTC as `ingest_log` stores it."""
    if text is None:
        return now.astimezone(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0) - timedelta(hours=1)
    try:
        hour = datetime.fromisoformat(text)
    except ValueError as exc:
        raise dg.Failure(f"hour {text!r} is not an ISO hour such as 2025-03-01T10:00") from exc
    if hour.tzinfo:
        hour = hour.astimezone(UTC).replace(tzinfo=None)
    if hour.minute or hour.second or hour.microsecond:
        raise dg.Failure(f"hour {text!r} does not start on the hour")
    return hour


def health_metadata(hourly: pl.DataFrame, daily: pl.DataFrame, breakers: pl.DataFrame | None, *,
                    sources: list[str], hour: datetime) -> dict:
    """Markdown tables for the hour and the last 24 hours, plus numbers per source that plot across
    materializations; a source without requests in the hour reports zero requests and no rates."""
    breakers = breakers if breakers is not None else pl.DataFrame(
        schema={"source": pl.String(), "breaker": pl.String(), "failures": pl.Int64(), "blocked_for_s": pl.Int64()})
    names = sorted(set(sources) | set(hourly["source"]) | set(daily["source"]) | set(breakers["source"]))
    base = pl.DataFrame({"source": names})
    hour_table = (base.join(hourly, on="source", how="left").join(breakers, on="source", how="left")
                  .with_columns(pl.col("requests", "errors").fill_null(0), pl.col("breaker").fill_null("closed"),
                                pl.col("failures", "blocked_for_s").fill_null(0)))
    metadata: dict = {
        "hour": f"{hour:%Y-%m-%d %H:00} UTC",
        "last_hour": dg.MetadataValue.md(markdown_table(hour_table, _HOURLY)),
        "last_24h": dg.MetadataValue.md(markdown_table(base.join(daily, on="source", how="inner"), _DAILY)),
    }
    for row in hour_table.iter_rows(named=True):
        name = row["source"]
        metadata[f"{name}/requests"] = int(row["requests"])
        metadata[f"{name}/errors"] = int(row["errors"])
        for measure in ("success_pct", "p50_ms", "p95_ms", "max_ms"):
            if row[measure] is not None:
                metadata[f"{name}/{measure}"] = float(row[measure])
        for kind in ErrorKind:
            metadata[f"{name}/errors_{kind.value}"] = _kind_count(row["error_classes"], kind)
        metadata[f"{name}/breaker_open"] = int(row["breaker"] != "closed" or row["blocked_for_s"] > 0)
        metadata[f"{name}/breaker_failures"] = int(row["failures"])
    return metadata


def build_source_health_asset(settings: Settings) -> dg.AssetsDefinition:
    """Reads the warehouse under its lock (`WarehouseResource.connect`) and the breakers' shared state file."""
    configured = sorted({source for symbol in settings.symbols for source in symbol.sources})

    @dg.asset(key=SOURCE_HEALTH_KEY, group_name="monitoring", kinds={"duckdb"},
              description="Per source, the last closed hour and the last 24 hours: requests, success rate, "
                          "p50/p95/max latency, errors by kind, breaker state.")
    def source_health(config: SourceHealthConfig, warehouse: WarehouseResource,
                      sources: SourcesResource) -> dg.MaterializeResult:
        hour = report_hour(config.hour, datetime.now(UTC))
        with warehouse.connect() as conn:
            hourly = queries.source_health_hourly(conn, hour=hour)
            daily = queries.source_health(conn)
        breakers = breaker_states(sources.state_path) if sources.state_path else None
        return dg.MaterializeResult(metadata=health_metadata(hourly, daily, breakers, sources=configured,
                                                             hour=hour))

    return source_health


def _kind_count(error_classes: str | None, kind: ErrorKind) -> int:
    """Errors of one kind in the view's `kind:Exception n, ...` list."""
    total = 0
    for entry in (error_classes or "").split(", "):
        label, _, count = entry.rpartition(" ")
        if label.split(":")[0] == kind.value:
            total += int(count)
    return total
