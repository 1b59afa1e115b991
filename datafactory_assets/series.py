"""One instrument's rows of one dataset (`perp_candles` of `BTC/USDT:USDT`): what a backfill plans, launches and
follows. A symbol collects several datasets, each its own asset and table, so counting and asking per symbol alone
would ask spot candles of a perpetual that collects none.

Only datasets counted in fixed slots take part: a venue-stated cadence (funding rates) has no one number of rows per
hour to call an hour complete by (`datasets.slots.VenueCadenceError`), as the healing sensor leaves it out too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from datafactory_assets.datasets import DATASETS, SPOT_CANDLES, Dataset
from datafactory_assets.datasets.slots import slots_per_hour
from datafactory_assets.settings import SymbolSettings


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
    def rows_per_hour(self) -> int:
        """How many rows one hourly partition holds when complete."""
        return slots_per_hour(self.dataset, self.settings.timeframe_ms)


def series_of(symbols: Iterable[SymbolSettings]) -> list[Series]:
    """Every dataset counted in fixed slots that each symbol collects, in configured order."""
    return [Series(symbol, name) for symbol in symbols for name in symbol.datasets
            if not DATASETS[name].cadence.venue_interval]


def by_dataset(series: Iterable[Series]) -> dict[str, list[Series]]:
    """`series` grouped by dataset name, in the order given: each group is one query of that dataset's tables."""
    groups: dict[str, list[Series]] = defaultdict(list)
    for one in series:
        groups[one.dataset_name].append(one)
    return dict(groups)
