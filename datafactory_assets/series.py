"""One instrument's rows of one dataset (`perp_candles` of `BTC/USDT:USDT`): what a backfill plans, launches and
follows. A symbol collects several datasets, each its own asset and table, so counting and asking per symbol alone
would ask spot candles of a perpetual that collects none.

A dataset counted in fixed slots calls an hour complete when it holds its rows per hour; a venue-stated cadence
(funding rates) has no such number (`datasets.slots.VenueCadenceError`): its hours are complete when every event due
on the instrument's interval timeline is held (`incomplete_ranges`, the query the healing sensor plans funding by).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb

from datafactory_assets.datasets import DATASETS, SPOT_CANDLES, Dataset
from datafactory_assets.datasets.slots import slots_per_hour
from datafactory_assets.settings import SymbolSettings
from datafactory_assets.warehouse import queries


@dataclass(frozen=True)
class Series:
    """A symbol's dataset, named (a dataset declaration holds mappings, which do not hash)."""

    settings: SymbolSettings
    dataset_name: str = SPOT_CANDLES.name

    @property
    def dataset(self) -> Dataset:
        return DATASETS[self.dataset_name]

    @property
    def symbol(self) -> str:
        return self.settings.symbol

    @property
    def sources(self) -> tuple[str, ...]:
        return self.settings.sources

    @property
    def name(self) -> str:
        """How progress names it: the symbol for spot candles, `perp_candles BTC/USDT:USDT` for another dataset."""
        return self.symbol if self.dataset is SPOT_CANDLES else f"{self.dataset.name} {self.symbol}"

    @property
    def asset_path(self) -> tuple[str, str]:
        """The asset key's parts, `("perp_candles", "btc_usdt")`."""
        return self.dataset.name, self.settings.asset_name

    @property
    def counts_events(self) -> bool:
        """Whether its rows come at intervals the venue states (funding): no fixed number of rows per hour."""
        return self.dataset.cadence.venue_interval

    @property
    def rows_per_hour(self) -> int:
        """How many rows one hourly partition holds when complete; VenueCadenceError when it `counts_events`."""
        return slots_per_hour(self.dataset, self.settings.timeframe_ms)


def series_of(symbols: Iterable[SymbolSettings]) -> list[Series]:
    """Every dataset each symbol collects, in configured order."""
    return [Series(symbol, name) for symbol in symbols for name in symbol.datasets]


def incomplete_ranges(conn: duckdb.DuckDBPyConnection, members: Sequence[Series], *, starts: Sequence[datetime],
                      until: datetime) -> dict[str, list[tuple[datetime, datetime]]]:
    """Per symbol of `members` (series of one dataset), the `[first, stop)` ranges of hours from its start in
    `starts` up to `until` the warehouse does not hold complete, in one query for all: hours short of their rows
    (`queries.incomplete_ranges`), or for events at the venue's intervals hours missing a due event and the span
    before the first stored one (`queries.incomplete_event_ranges`). Naive UTC, as the queries give them."""
    dataset, asked = members[0].dataset, list(zip(members, starts, strict=True))
    if members[0].counts_events:
        return queries.incomplete_event_ranges(conn, [(s.symbol, first) for s, first in asked], until=until,
                                               dataset=dataset)
    return queries.incomplete_ranges(conn, [(s.symbol, first, s.rows_per_hour) for s, first in asked], until=until,
                                     dataset=dataset)


def by_dataset(series: Iterable[Series]) -> dict[str, list[Series]]:
    """`series` grouped by dataset name, in the order given: each group is one query of that dataset's tables."""
    groups: dict[str, list[Series]] = defaultdict(list)
    for one in series:
        groups[one.dataset_name].append(one)
    return dict(groups)
