"""What a dataset is: the one declaration every layer reads instead of assuming spot candles.

A dataset names its frame (columns and types), the columns that identify a row, its cadence, its validation rules,
the warehouse table that holds it and, per venue, how that venue serves it (the ccxt call and its parameters, rows per
request, how far back, where the bulk archive keeps it). Sources, the failover chain, validation, writes, holes and
revisions, healing, coverage, checks, alerts, rollups and export take a `Dataset`; adding one is a declaration, its
venue quirks and its emulator dialect, not a copy of the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import polars as pl

from datafactory_assets.frames import candles_from_rows

# The columns that make a dataset OHLCV bars: rollups and the backtester export apply to those datasets only.
OHLCV_COLUMNS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class Cadence:
    """How often a dataset holds a row for an instrument.

    A `fixed` timeframe ("5m" open interest), or the instrument's configured timeframe (candles: neither field set),
    or, with `venue_interval`, intervals the venue states per instrument and may change (funding: 1h, 4h or 8h), so
    that gap detection follows the interval in force at each time rather than one constant.
    """

    fixed: str | None = None
    venue_interval: bool = False

    def timeframe(self, configured: str) -> str | None:
        """The timeframe rows follow for an instrument configured with `configured`; None when the venue states it."""
        if self.venue_interval:
            return None
        return self.fixed or configured


@dataclass(frozen=True)
class VenueEndpoint:
    """How one venue serves a dataset: the ccxt method and extra parameters (`{"price": "mark"}`), the rows one
    request may return, what one request costs of the venue's budget, how far back the venue serves (`depth` as a
    time, or `depth_rows` as its latest rows whatever the timeframe; neither: its whole history) and where its bulk
    archive keeps the files (a path template, None: no archive).

    Two answers' shapes are per dataset and venue, not per venue: `last_row_open`, every answer ends with the
    still-open row whatever was asked (Kraken's OHLC), so the source asks for the whole answer and drops that row;
    `first_row_since`, asked from a time with limit 1 and no end, the venue answers its first row at or after it
    (Binance's klines), which dates a listing."""

    call: str
    limit: int
    params: Mapping[str, str] = field(default_factory=dict)
    weight: int = 1
    depth: timedelta | None = None
    depth_rows: int | None = None
    archive_path: str | None = None
    last_row_open: bool = False
    first_row_since: bool = False


# validate(frame, *, start, end, timeframe_ms) -> violations; see checks/validation.py.
Validator = Callable[..., list]
# from_rows(rows, *, symbol, source) -> the dataset's frame, from the rows its ccxt call returns; see frames.py.
FrameBuilder = Callable[..., pl.DataFrame]


@dataclass(frozen=True)
class Dataset:
    """One kind of market data: see the module docstring.

    `name` is the first part of its asset keys (`candles/btc_usdt`) and its Dagster group; `table` the warehouse table
    that holds it, read through the view `all_<table>`; `schema` the canonical frame every source converts into once;
    `keys` the columns that identify a row (one row per key, upserts replace on it); `values` the columns a revision
    compares; `market` the instrument market type it belongs to ("spot" or "swap"); `nullable` the columns a venue
    may leave empty (funding's mark price; every other column is NOT NULL in the table); `revisions` the table that
    keeps the rows a later write replaced (see `revisions_table`); `view_prefix` the prefix of its generated views
    and macros (`perp_candles_gaps`, `perp_candles_coverage`; None: its name and an underscore), which spot candles
    set empty so that theirs keep the names they had before datasets existed (`gaps`, `coverage`). `from_rows` turns
    what its ccxt call returns into `schema`, once, at the source's edge (ccxt's OHLCV rows unless told: most
    datasets are candles of some price); `checks` names the asset checks its assets carry and report (name -> what
    it checks, as the UI shows it; none unless told); `description` says what one partition of an asset holds, with
    `{timeframe}` and `{symbol}` filled in per asset; `unit` what a person calls one row ("candle", "funding
    event"), so that what counts rows (`datafactory status`, `gaps`, `revisions`) says what it counted.

    Rows are written one instrument at a time over a window of `ts`, so the keys hold `symbol` and `ts`; a revision
    tells what a source changed, so the frame carries `source`.
    """

    name: str
    table: str
    schema: Mapping[str, pl.DataType]
    keys: tuple[str, ...]
    values: tuple[str, ...]
    cadence: Cadence
    validate: Validator
    venues: Mapping[str, VenueEndpoint]
    market: str = "spot"
    description: str = ""
    nullable: frozenset[str] = frozenset()
    revisions: str | None = None
    view_prefix: str | None = None
    from_rows: FrameBuilder = candles_from_rows
    checks: Mapping[str, str] = field(default_factory=dict)
    unit: str = "candle"

    def __post_init__(self) -> None:
        problems = [f"{column} is not a column of its schema" for column in
                    dict.fromkeys((*self.keys, *self.values, *self.nullable, "source")) if column not in self.schema]
        if not {"symbol", "ts"} <= set(self.keys):
            problems.append("its keys must hold symbol and ts")
        if problems:
            raise ValueError(f"dataset {self.name}: {'; '.join(problems)}")

    @property
    def view(self) -> str:
        """The view readers use: the table plus its archived Parquet months."""
        return f"all_{self.table}"

    @property
    def revisions_table(self) -> str:
        """The table keeping replaced rows: `revisions` when declared (spot candles keep `candle_revisions`), else
        `<table>_revisions`."""
        return self.revisions or f"{self.table}_revisions"

    @property
    def row_keys(self) -> tuple[str, ...]:
        """The keys that tell one instrument's rows apart: `keys` without `symbol` (a write holds one symbol's)."""
        return tuple(key for key in self.keys if key != "symbol")

    def relation(self, kind: str) -> str:
        """The name of this dataset's generated view or macro of `kind` (`gaps`, `gap_status`, `coverage`,
        `coverage_at`): `gaps` for spot candles, `perp_candles_gaps` for perpetual candles."""
        prefix = f"{self.name}_" if self.view_prefix is None else self.view_prefix
        return f"{prefix}{kind}"

    @property
    def ohlcv(self) -> bool:
        """Whether rows are OHLCV bars, which roll up into 1h / 1d bars and export for backtesters."""
        return all(column in self.schema for column in OHLCV_COLUMNS)

    def endpoint(self, venue: str) -> VenueEndpoint:
        """How `venue` serves this dataset; KeyError names the pair when it does not."""
        try:
            return self.venues[venue]
        except KeyError:
            raise KeyError(f"{venue} does not serve the dataset {self.name}") from None

    def empty(self) -> pl.DataFrame:
        """A frame with the dataset's columns and no rows."""
        return pl.DataFrame(schema=dict(self.schema))
