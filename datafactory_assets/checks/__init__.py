"""Asset checks over candles: validation (blocking) and gap detection, with their pure functions.

The check specs and results (`specs`) need Dagster and are imported only when asked for (PEP 562): the pure
functions are what the dataset declarations and the warehouse's readers (the CLI) import, without Dagster.
"""

from datafactory_assets.checks.gaps import missing_ranges
from datafactory_assets.checks.validation import Violation, validate_candles

_SPECS = ("GAPS", "VALIDATION", "candle_check_specs", "gaps_result", "validation_result")

__all__ = [
    "GAPS",
    "VALIDATION",
    "Violation",
    "candle_check_specs",
    "gaps_result",
    "missing_ranges",
    "validate_candles",
    "validation_result",
]


def __getattr__(name: str):
    if name in _SPECS:
        from datafactory_assets.checks import specs

        return getattr(specs, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
