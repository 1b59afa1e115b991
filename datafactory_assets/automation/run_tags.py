"""The run tags the production instance's queue limits by (`concurrency.runs.tag_concurrency_limits`).

Run-level limits act before a run starts its process, so they must be on the run itself: every candle run names its
primary source (a run collects symbols of one primary source only), so that one venue's runs are bounded without
bounding the others'. Failover may still reach later sources inside a run; the shared request budgets guard those.
Writers need no tag: only their DuckDB transaction is serialized, by the lock beside the warehouse file.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import TypeVar

from datafactory_assets.series import Series
from datafactory_assets.settings import SymbolSettings

S = TypeVar("S", SymbolSettings, Series)

SOURCE_TAG = "datafactory/source"
PRIORITY_TAG = "dagster/priority"
SCHEDULED_PRIORITY = "1"  # the hourly collection jumps the queue ahead of backfill runs of the same source


def candle_run_tags(source: str) -> dict[str, str]:
    """A candle run whose symbols all start their failover chain at `source`."""
    return {SOURCE_TAG: source}


def by_primary_source(symbols: Iterable[S]) -> dict[str, list[S]]:
    """Symbols (or their datasets' series) grouped by the first source of their chain, in configured order."""
    groups: dict[str, list[S]] = defaultdict(list)
    for symbol in symbols:
        groups[symbol.sources[0]].append(symbol)
    return dict(groups)
