"""Which row a stored key keeps when a re-fetch brings another (a candle for a minute, say): pure functions over
frames, so the rule is the same for every dataset wherever rows are written and can be tested without a warehouse.
Rows are compared on the dataset's `values`; the rules below say "candle" for any dataset's row.

- A candle from a lower-ranked source never replaces a stored one from a higher-ranked source. A source's rank is
  its position in the symbol's chain (`SymbolSettings.sources`, first is best). Binance's archive
  (data.binance.vision) publishes the klines of Binance's own API, so `binance_archive` and `binance` share the
  rank of whichever the chain lists first: either may correct the other, and a difference between them is a
  revision, never a refusal. A stored source the chain no longer lists ranks below all of it: the configured chain
  decides, and what it replaces is kept as a revision.
- A source serving the symbol in another quote currency (Yahoo's USD for a USDT pair) only fills minutes we do not
  hold: its prices are another market's, so they never replace a candle, whatever the chain's order.
- Identical candles (the usual re-fetch) change nothing: not even their row is rewritten. A candle whose values
  differ and that may replace the stored one is a revision: the old row is kept with the new values beside it.
- A revision of a candle older than a day by the venue that served it (its history rewritten) is worth an alert.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from datafactory_assets.datasets import SPOT_CANDLES, Dataset

SAME_DATA = {"binance_archive": "binance"}  # source -> the venue whose data it republishes
HISTORY_AGE = timedelta(days=1)  # a venue changing candles older than this rewrites its history


@dataclass(frozen=True)
class Replacement:
    """What a write does with its incoming rows against the stored ones at the same keys."""

    write: pl.DataFrame  # incoming rows to insert: keys not held, and revisions' new rows
    revisions: pl.DataFrame  # per replaced row: its row keys, old_* and new_* values and sources
    refused: int  # incoming candles that differ from a stored one they may not replace


def venue(source: str) -> str:
    """The venue whose data a source serves: `binance_archive` -> `binance`, any other source itself."""
    return SAME_DATA.get(source, source)


def source_ranks(chain: Sequence[str]) -> dict[str, int]:
    """Rank per source of the chain, 0 the best; sources serving the same venue's data share the better rank."""
    first: dict[str, int] = {}
    for position, source in enumerate(chain):
        first.setdefault(venue(source), position)
    return {source: first[venue(source)] for source in chain}


def replacement(incoming: pl.DataFrame, stored: pl.DataFrame, *, chain: Sequence[str],
                fill_only: Collection[str] = (), dataset: Dataset = SPOT_CANDLES) -> Replacement:
    """Decide, for `incoming` (one symbol's rows of `dataset`, its canonical frame) against `stored` (the held rows
    at those keys: the row keys, the values, source, ingested_at), what is inserted, what replaced and what
    refused."""
    keys = list(dataset.row_keys)
    old = stored.unique(keys, keep="any").rename({c: f"old_{c}" for c in stored.columns if c not in keys})
    if not old.height:  # nothing held at these keys (every new window of a fill): each row is new, none decided
        return Replacement(write=incoming, revisions=_revisions(incoming.head(0).join(old, on=keys, how="left"),
                                                                keys=keys, dataset=dataset), refused=0)
    ranks = source_ranks(chain)
    unranked = len(chain)
    joined = incoming.join(old, on=keys, how="left")
    held = pl.col("old_source").is_not_null()
    same = pl.all_horizontal([pl.col(c).eq_missing(pl.col(f"old_{c}")) for c in dataset.values])
    may_replace = ~pl.col("source").is_in(list(fill_only)) & (
        pl.col("source").replace_strict(ranks, default=unranked, return_dtype=pl.Int32)
        <= pl.col("old_source").replace_strict(ranks, default=unranked, return_dtype=pl.Int32))
    decided = joined.with_columns(decision=pl.when(~held).then(pl.lit("new"))
                                  .when(same).then(pl.lit("same"))
                                  .when(may_replace).then(pl.lit("revise"))
                                  .otherwise(pl.lit("refuse")))
    revised = decided.filter(pl.col("decision") == "revise")
    return Replacement(
        write=decided.filter(pl.col("decision").is_in(["new", "revise"])).select(incoming.columns),
        revisions=_revisions(revised, keys=keys, dataset=dataset),
        refused=int((decided["decision"] == "refuse").sum()),
    )


def _revisions(rows: pl.DataFrame, *, keys: list[str], dataset: Dataset) -> pl.DataFrame:
    """The revisions' columns of incoming rows joined with the stored ones they replace (`old_*`)."""
    return rows.select(*keys, *(f"old_{c}" for c in (*dataset.values, "source", "ingested_at")),
                       *(pl.col(c).alias(f"new_{c}") for c in (*dataset.values, "source")))


def history_rewrites(revisions: pl.DataFrame, *, now: datetime) -> int:
    """How many of the revisions are a venue changing its own rows older than `HISTORY_AGE` (a different source
    replacing another's candle is the chain at work, not a rewrite)."""
    if not revisions.height:
        return 0
    same_venue = pl.col("old_source").replace(SAME_DATA) == pl.col("new_source").replace(SAME_DATA)
    return revisions.filter(same_venue & (pl.col("ts") < now - HISTORY_AGE)).height
