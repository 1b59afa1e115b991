"""Where a dataset's cadence becomes the slots completeness is counted in: the one place healing, coverage and the
gap views learn how wide one row's slot is for an instrument.

A fixed cadence (open interest, 5m) and the instrument's configured timeframe (candles) give one width per
instrument, so a slot is a multiple of it from the epoch; both the Python side (`slot_ms`, `slots_per_hour`: what
healing asks an hourly partition to hold) and the SQL side (`slot_ms_sql`, which the generated views and macros
embed) come from here. A venue-stated cadence (funding: 1h, 4h or 8h per instrument, changing over time) has no one
width: its slots will come from the venue's interval timeline once that is recorded, and they plug in here; until
then both functions refuse such a dataset by name rather than count it at a width it does not have.
"""

from __future__ import annotations

from datafactory_assets.datasets.declaration import Dataset
from datafactory_assets.settings_models import timeframe_to_ms

_HOUR_MS = 3_600_000


class VenueCadenceError(ValueError):
    """The dataset's rows follow intervals the venue states per instrument, which are not recorded yet."""


def slot_ms(dataset: Dataset, configured_ms: int) -> int:
    """The width of one slot of `dataset` for an instrument configured at `configured_ms`."""
    timeframe = _own_timeframe(dataset)
    return timeframe_to_ms(timeframe) if timeframe else configured_ms


def slots_per_hour(dataset: Dataset, configured_ms: int) -> int:
    """How many rows one complete hourly partition of `dataset` holds for an instrument configured at
    `configured_ms`."""
    return _HOUR_MS // slot_ms(dataset, configured_ms)


def slot_ms_sql(dataset: Dataset, configured: str) -> str:
    """`slot_ms` as an SQL expression, `configured` being the SQL of the instrument's configured width in ms."""
    timeframe = _own_timeframe(dataset)
    return str(timeframe_to_ms(timeframe)) if timeframe else configured


def _own_timeframe(dataset: Dataset) -> str:
    """The dataset's own fixed timeframe; empty when it follows the instrument's configured one."""
    timeframe = dataset.cadence.timeframe("")
    if timeframe is None:
        raise VenueCadenceError(f"{dataset.name} follows the intervals the venue states per instrument; its slots "
                                "are not counted until those intervals are recorded")
    return timeframe
