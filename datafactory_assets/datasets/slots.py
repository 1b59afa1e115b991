"""Where a dataset's cadence becomes the slots completeness is counted in: the one place healing, coverage and the
gap views learn how wide one row's slot is for an instrument.

A fixed cadence (open interest, 5m) and the instrument's configured timeframe (candles) give one width per
instrument, so a slot is a multiple of it from the epoch; both the Python side (`slot_ms`, `slots_per_hour`: what
healing asks an hourly partition to hold) and the SQL side (`slot_ms_sql`, `slot_count_sql`, which the generated
views and macros embed) come from here.

A venue-stated cadence (funding: 1h, 4h or 8h per instrument, changing over time) has no one width. Each stored row
carries the interval in force from it to the next (`interval_ms`), so a row's slot width is its own column, and the
slots of a span are counted over the instrument's interval timeline (the dataset's `<name>_slots` macro over its
`<name>_intervals` view, generated in `warehouse.views`): each interval's multiples inside the span, the first
interval reaching back to any start, an instrument with no timeline yet at Binance's default of 8 hours. The Python
side has no one number per hour for such a dataset and refuses it by name (`VenueCadenceError`).
"""

from __future__ import annotations

from datafactory_assets.datasets.declaration import Dataset
from datafactory_assets.datasets.funding_intervals import DEFAULT_INTERVAL_MS
from datafactory_assets.settings_models import timeframe_to_ms

_HOUR_MS = 3_600_000
INTERVAL_COLUMN = "interval_ms"  # a venue-stated cadence's rows carry the interval in force from them to the next


class VenueCadenceError(ValueError):
    """The dataset's rows follow intervals the venue states per instrument: no one width per hour exists."""


def slot_ms(dataset: Dataset, configured_ms: int) -> int:
    """The width of one slot of `dataset` for an instrument configured at `configured_ms`."""
    timeframe = _own_timeframe(dataset)
    return timeframe_to_ms(timeframe) if timeframe else configured_ms


def slots_per_hour(dataset: Dataset, configured_ms: int) -> int:
    """How many rows one complete hourly partition of `dataset` holds for an instrument configured at
    `configured_ms`."""
    return _HOUR_MS // slot_ms(dataset, configured_ms)


def slot_ms_sql(dataset: Dataset, configured: str, *, row: str | None = None) -> str:
    """`slot_ms` as an SQL expression, `configured` being the SQL of the instrument's configured width in ms. For a
    venue-stated cadence, the width of the slot starting at the row alias `row` (its `interval_ms`); NULL where no
    row is named (an instrument has no one width: count its slots with `slot_count_sql`)."""
    if dataset.cadence.venue_interval:
        return f"{row}.{INTERVAL_COLUMN}" if row else "NULL"
    timeframe = _own_timeframe(dataset)
    return str(timeframe_to_ms(timeframe)) if timeframe else configured


def slot_count_sql(dataset: Dataset, *, symbol: str, first: str, stop: str, width: str) -> str:
    """SQL counting the slots of `dataset` in [first, stop) for the instrument `symbol` (SQL expressions), `width`
    being its `slot_ms_sql`: multiples of the width, or of each interval of the instrument's timeline. Qualify the
    column expressions (`sp.symbol`): the slots macro takes them as written, so a bare `symbol` would name its own
    timeline's column and count every instrument's slots."""
    if dataset.cadence.venue_interval:
        return f"{dataset.relation('slots')}({symbol}, {first}, {stop})"
    return f"candle_slots({first}, {stop}, {width})"


def intervals_sql(dataset: Dataset) -> str:
    """For a venue-stated cadence, the `<name>_intervals` view (per instrument, each interval since the stored event
    it took effect at, until the next change) and the `<name>_slots(symbol, first, stop)` macro counting over it;
    empty for any other dataset."""
    if not dataset.cadence.venue_interval:
        return ""
    intervals, column = dataset.relation("intervals"), INTERVAL_COLUMN
    return f"""
CREATE OR REPLACE VIEW {intervals} AS
SELECT symbol, ts AS since, {column}, lead(ts) OVER (PARTITION BY symbol ORDER BY ts) AS until
FROM (SELECT symbol, ts, {column}, lag({column}) OVER (PARTITION BY symbol ORDER BY ts) AS before
      FROM {dataset.view})
WHERE before IS NULL OR before <> {column};

CREATE OR REPLACE MACRO {dataset.relation("slots")}(sym, first, stop) AS coalesce((
    SELECT sum(candle_slots(greatest(first, CASE WHEN tl_.since = (SELECT min(since) FROM {intervals}
                                                                   WHERE symbol = sym)
                                            THEN first ELSE tl_.since END),
                            least(stop, coalesce(tl_.until, stop)), tl_.{column}))
    FROM {intervals} tl_ WHERE tl_.symbol = sym), candle_slots(first, stop, {DEFAULT_INTERVAL_MS}));
"""


def _own_timeframe(dataset: Dataset) -> str:
    """The dataset's own fixed timeframe; empty when it follows the instrument's configured one."""
    timeframe = dataset.cadence.timeframe("")
    if timeframe is None:
        raise VenueCadenceError(f"{dataset.name} follows the intervals the venue states per instrument; its slots "
                                "are counted over its interval timeline, not at one width per hour")
    return timeframe
