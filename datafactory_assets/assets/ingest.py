"""Fetch, validate and store one window of one symbol: the work behind every candle materialization.

Kept free of Dagster so that the benchmark and the CLI run exactly the code the assets run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from datafactory_assets.checks import Violation, missing_ranges, validate_candles
from datafactory_assets.settings import SymbolSettings
from datafactory_assets.sources import CcxtCandleSource, RequestRecord, SourceError
from datafactory_assets.warehouse import WarehouseResource
from datafactory_assets.warehouse.writes import log_requests, replace_window


class ValidationFailedError(Exception):
    """The source's candles break validation rules; nothing was written."""

    def __init__(self, violations: list[Violation], requests: list[RequestRecord]):
        super().__init__("candles failed validation, nothing written: " + "; ".join(map(str, violations)))
        self.violations = violations
        self.requests = requests


@dataclass(frozen=True)
class IngestReport:
    """What one window's ingestion stored and what it cost."""

    rows: int
    expected_rows: int
    missing: pl.DataFrame
    source: str
    requests: list[RequestRecord]

    @property
    def missing_candles(self) -> int:
        return int(self.missing["missing"].sum()) if self.missing.height else 0

    @property
    def fetch_latency_ms(self) -> float:
        return sum(r.latency_ms for r in self.requests)


def ingest_window(symbol: SymbolSettings, *, start: datetime, end: datetime, source: CcxtCandleSource,
                  warehouse: WarehouseResource, run_id: str | None = None) -> IngestReport:
    """Replace the symbol's stored candles in [start, end) with what the source has, or change nothing.

    Raises `SourceError` when the source fails or answers garbage and `ValidationFailedError` when its candles are
    bad; in both cases the requests are logged and the stored candles stay as they were.
    """
    try:
        fetched = source.fetch_range(symbol.symbol, start=start, end=end, timeframe=symbol.timeframe)
    except SourceError as exc:
        _log_only(warehouse, exc.requests, run_id)
        raise
    violations = validate_candles(fetched.frame, start=start, end=end, timeframe_ms=symbol.timeframe_ms)
    if violations:
        _log_only(warehouse, fetched.requests, run_id)
        raise ValidationFailedError(violations, fetched.requests)
    with warehouse.connect() as conn:
        rows = replace_window(conn, fetched.frame, symbol=symbol, start=start, end=end,
                              requests=fetched.requests, run_id=run_id)
    expected = int((end - start).total_seconds() * 1000) // symbol.timeframe_ms
    return IngestReport(
        rows=rows,
        expected_rows=expected,
        missing=missing_ranges(fetched.frame["ts"], start=start, end=end, timeframe_ms=symbol.timeframe_ms),
        source=source.name,
        requests=fetched.requests,
    )


def _log_only(warehouse: WarehouseResource, requests: list[RequestRecord], run_id: str | None) -> None:
    with warehouse.connect() as conn:
        log_requests(conn, requests, run_id)
