"""Asset checks over a dataset's rows: validation (blocking) and gap detection, with their pure functions."""

from datafactory_assets.checks.gaps import missing_ranges
from datafactory_assets.checks.specs import GAPS, VALIDATION, check_specs, gaps_result, validation_result
from datafactory_assets.checks.validation import Violation, validate_candles

__all__ = [
    "GAPS",
    "VALIDATION",
    "Violation",
    "check_specs",
    "gaps_result",
    "missing_ranges",
    "validate_candles",
    "validation_result",
]
